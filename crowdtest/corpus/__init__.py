"""The corpus: experiments, their tracks, the stimuli cut from them, features and clusters."""
