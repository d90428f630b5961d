"""P.808 session design: rating and training sessions, traps, setup digits, prompts."""
