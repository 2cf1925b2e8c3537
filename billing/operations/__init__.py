"""Operations: the batch processing configuration of the seed, and what it drives."""
