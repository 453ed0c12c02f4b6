"""voicectl.observability."""
