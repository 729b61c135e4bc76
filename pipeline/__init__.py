"""chartsift: long patient records in, one validated, grounded, auditable row per encounter out."""

__version__ = "0.1.0"
