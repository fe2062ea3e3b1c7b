"""usagectl.producers."""
