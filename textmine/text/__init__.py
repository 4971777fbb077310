"""Korean text: normalisation, Kiwi tokenization, PII masking, the token caches and the modelled documents."""
