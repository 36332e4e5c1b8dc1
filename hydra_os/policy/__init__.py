"""The autonomy policy: actions, decisions, guards, approvals and audit receipts.

Import from the submodules (``hydra_os.policy.model`` etc.); this package imports nothing on load.
"""
