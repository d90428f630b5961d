"""The rater's side: raters, their assignments (a session being taken), answers and votes."""
