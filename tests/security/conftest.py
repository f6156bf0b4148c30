"""Red-team tests: each names the issue-17 item it holds shut, and ran red on the main it was
written against (the attack succeeded) before it passed."""
