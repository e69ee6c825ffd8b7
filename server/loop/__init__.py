"""The learning loop (contract §9): assignments, progress on cards, the class overview."""
