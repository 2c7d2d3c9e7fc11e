import sys
from pathlib import Path

# The reference tree and helpers live beside the tests, not in the package.
sys.path.insert(0, str(Path(__file__).parent))
