"""voicectl.bench."""
