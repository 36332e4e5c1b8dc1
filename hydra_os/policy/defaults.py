"""The built-in policy: the autonomy spectrum of the architecture, as a policy file.

The owner's file is evaluated before these rules (so its rules win the first match), unless it
says ``include_defaults = false``. NEVER rules win over everything, including owner rules.
"""

from __future__ import annotations

DEFAULT_POLICY_TOML = """\
# Hydra OS built-in policy (the autonomy spectrum). Rules are tried in order; the first match
# decides, except that any matching NEVER rule wins. Unknown actions ASK_FIRST.

# NEVER: anything destructive without explicit permission (the owner can still do it by hand).
[[rule]]
id = "never-destroy"
level = "NEVER"
kinds = ["*.destroy", "*.wipe", "*.format", "data.purge", "nixos.gc-all"]
reason = "destructive; only the owner does this, by hand"

[[rule]]
id = "never-irreversible-cluster"
level = "NEVER"
kinds = ["*"]
reversible = false
blast_radius = ["cluster"]
reason = "irreversible and cluster-wide"

# ASK_FIRST: significant spending, deleting data, new external API integrations.
[[rule]]
id = "ask-significant-spending"
level = "ASK_FIRST"
kinds = ["*"]
min_cost = 5.0
reason = "significant spending"

[[rule]]
id = "ask-delete-data"
level = "ASK_FIRST"
kinds = ["data.delete", "*.delete"]
reason = "deletes data"

[[rule]]
id = "ask-new-integration"
level = "ASK_FIRST"
kinds = ["integration.add", "integration.enable", "api.key.add"]
reason = "new external API integration"

[[rule]]
id = "ask-irreversible-infra"
level = "ASK_FIRST"
kinds = ["config.*", "infra.*", "nixos.*", "service.deploy"]
reversible = false
reason = "infrastructure change without a rollback plan"

# AUTONOMOUS: restart a crashed service, health checks, routine backups, model routing.
[[rule]]
id = "auto-restart"
level = "AUTONOMOUS"
kinds = ["service.restart", "unit.restart", "process.restart", "engine.restart", "bus.restart"]
reason = "restarting a crashed service is routine"

[[rule]]
id = "auto-health"
level = "AUTONOMOUS"
kinds = ["health.check", "health.*"]
reason = "health checks are read-only"

[[rule]]
id = "auto-backup"
level = "AUTONOMOUS"
kinds = ["backup.run", "backup.verify"]
reason = "routine backup"

[[rule]]
id = "auto-routing"
level = "AUTONOMOUS"
kinds = ["model.route"]
reason = "model routing"

# INFORM_AFTER: configuration or infrastructure changes, deploying a new service, NixOS rebuild
# with a rollback plan, freeing known caches, loading or unloading models.
[[rule]]
id = "inform-nixos"
level = "INFORM_AFTER"
kinds = ["nixos.rebuild", "nixos.switch", "nixos.rollback"]
reason = "NixOS change with a rollback plan"

[[rule]]
id = "inform-infra"
level = "INFORM_AFTER"
kinds = ["config.*", "infra.*", "service.deploy", "service.stop", "model.load", "model.unload"]
reason = "configuration or infrastructure change"

[[rule]]
id = "inform-free-cache"
level = "INFORM_AFTER"
kinds = ["disk.free_cache"]
reason = "frees known, regenerable caches"
"""
