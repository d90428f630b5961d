"""Staff accounts (experimenters and admins): login, the home page, access checks."""
