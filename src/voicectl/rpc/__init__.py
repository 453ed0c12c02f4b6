"""voicectl.rpc."""
