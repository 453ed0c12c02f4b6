"""voicectl.audio."""
