"""voicectl.worker."""
