"""Words to study: the shipped decks and classrooms' own words (contract §8)."""
