"""Blue-green and canary traffic switching: a small backend protocol (observe / apply /
persist) and one switcher that enforces the safe order and verifies by observation."""
