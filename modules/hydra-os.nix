# services.hydra-os: the Hydra OS node daemon (`hydra run`) as a hardened systemd service.
#
# Settings become /etc/hydra-os/config.toml (pkgs.formats.toml), which the daemon and the
# `hydra` CLI find through HYDRA_CONFIG / the default path. Secrets never go into settings:
# point the `*_file` keys at files (systemd credentials via `credentials`, or your own secret
# files) or put HYDRA_* variables into `environmentFile`.
#
# Optionally runs a local NATS server (nixpkgs' services.nats) clustered with the other Hydra
# nodes, and points the daemon at it.
{ config, lib, pkgs, ... }:
let
  inherit (lib)
    mkOption mkEnableOption mkPackageOption mkIf mkMerge mkDefault types literalExpression optional;

  cfg = config.services.hydra-os;
  format = pkgs.formats.toml { };
  backupDest = (cfg.settings.backup or { }).destination or null;

  allRoles = [ "gateway" "gpu" "memory" "scheduler" "worker" ];
  gpu = builtins.elem "gpu" cfg.settings.node.roles;
  stateDir = "/var/lib/hydra-os";
  credentialsDir = "/run/credentials/hydra-os.service";
  cacheDir = "/var/cache/hydra-os";
  managedUnits = lib.unique cfg.manageUnits;
  # The daemon bounds its own shutdown by node.stop_timeout (20 s by default) and then exits; systemd's
  # SIGKILL comes 10 s after that bound, so raising the setting raises the unit's timeout with it.
  stopTimeoutSec = builtins.ceil ((cfg.settings.node.stop_timeout or 20) * 1.0) + 10;
  # The privileged helper's verbs (hydra_os/nixos/helper.py); the polkit rule allows exactly these.
  helperVerbs = [ "test" "boot" "switch" "rollback" ];

  # TOML has no null: unset optional keys are left out, so hydra's own defaults apply.
  configFile = format.generate "hydra-os-config.toml"
    (lib.filterAttrsRecursive (_: v: v != null) cfg.settings);

  nullable = type: description: mkOption { type = types.nullOr type; default = null; inherit description; };

  # The daemon: the package's meta.mainProgram ("hydra", modules/package.nix). A bare store path given
  # as `package` has no meta, and getExe would guess the program from the path's name: it runs bin/hydra.
  daemonExe = if cfg.package ? meta.mainProgram then lib.getExe cfg.package else lib.getExe' cfg.package "hydra";
in
{
  # nixpkgs checks each entry against lib.maintainers, where Hydra OS has none yet: add it there first.
  meta.maintainers = [ ];

  options.services.hydra-os = {
    enable = mkEnableOption "the Hydra OS node daemon";

    package = mkPackageOption pkgs "hydra-os" { };

    roles = mkOption {
      type = types.listOf (types.enum allRoles);
      default = allRoles;
      example = [ "gpu" "gateway" ];
      description = ''
        Components this node runs (the default for `settings.node.roles`): `gateway` (HTTP API,
        router), `gpu` (model engines; also relaxes the sandbox for GPU devices), `memory`,
        `scheduler`, `worker`. A single-machine install runs them all.
      '';
    };

    settings = mkOption {
      default = { };
      description = ''
        Hydra configuration, written as TOML to /etc/hydra-os/config.toml. Keys and defaults are
        those of `hydra config show`; keys not declared here are passed through unchanged (and
        validated by the daemon at start). Secrets belong in files named by `*_file` keys.
      '';
      example = literalExpression ''
        {
          api.host = "0.0.0.0";
          owner = { timezone = "Europe/Berlin"; wake_time = "06:30"; };
        }
      '';
      type = types.submodule {
        freeformType = format.type;
        options = {
          node = {
            id = mkOption {
              type = types.str;
              default = config.networking.hostName;
              defaultText = literalExpression "config.networking.hostName";
              description = "Node id (1-64 of A-Z a-z 0-9 - _), unique in the cluster.";
            };
            roles = mkOption {
              type = types.listOf (types.enum allRoles);
              default = cfg.roles;
              defaultText = literalExpression "config.services.hydra-os.roles";
              description = ''
                Written from `services.hydra-os.roles`, the one place roles are set; a different value
                here is refused (an assertion names the option to use).
              '';
            };
            state_dir = mkOption {
              type = types.path;
              default = stateDir;
              description = ''
                Where the node keeps its data: the unit's StateDirectory (owned by the dynamic
                service user, mode 0700) or a directory below it. To keep the data on another
                disk, mount that disk at /var/lib (or /var/lib/private/hydra-os).
              '';
            };
          };
          api = {
            host = mkOption {
              type = types.str;
              default = "127.0.0.1";
              description = "Address the HTTP API binds. Use 0.0.0.0 (and openFirewall) to reach it from the LAN.";
            };
            port = mkOption {
              type = types.port;
              default = 8700;
              description = "HTTP API port (the one `openFirewall` opens).";
            };
            token_file = nullable types.path "Bearer token file; unset: <state_dir>/api-token, generated on first run.";
            advertise_url = nullable types.str "URL other nodes use to reach this node's API.";
          };
          bus = {
            url = nullable (types.listOf types.str) ''
              NATS server URL(s) to join. Unset: the daemon starts an embedded nats-server.
              Defaults to the local server when `nats.enable` is set.
            '';
            server_binary = nullable types.path "Embedded nats-server binary (the package puts nixpkgs' nats-server on PATH).";
            token_file = nullable types.path "File holding a NATS auth token.";
            creds_file = nullable types.path "NATS user credentials (.creds) file.";
            credentials_file = nullable types.path "NATS credentials (.creds, nkey seed or user:password); see `busCredentialsFile`.";
            tls_ca_file = nullable types.path "CA bundle that signs the NATS servers' certificates.";
            tls_cert_file = nullable types.path "Client certificate for NATS TLS.";
            tls_key_file = nullable types.path "Private key of `tls_cert_file` (hand it over as a credential).";
          };
          healing = {
            units = mkOption {
              type = types.listOf types.str;
              default = managedUnits;
              defaultText = literalExpression "config.services.hydra-os.manageUnits";
              description = "systemd units the healer watches; by default the units it may manage.";
            };
            nixos.helper_unit = mkOption {
              type = types.bool;
              default = true;
              description = ''
                NixOS rollbacks go through the root helper unit hydra-os-nixos@VERB-GEN.service
                (the daemon itself cannot write the system profile).
              '';
            };
          };
          log = {
            level = nullable (types.enum [ "TRACE" "DEBUG" "INFO" "SUCCESS" "WARNING" "ERROR" ]) "Log level (hydra's default: INFO).";
          };
        };
      };
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/hydra-os.env";
      description = ''
        File with HYDRA_* environment variables (systemd EnvironmentFile, read by PID 1 as root,
        so it may be readable by root only). For values that must not be in the world-readable
        Nix store or /etc.
      '';
    };

    credentials = mkOption {
      type = types.attrsOf types.path;
      default = { };
      example = { api-token = "/run/secrets/hydra-api-token"; };
      description = ''
        Secret files handed to the service as systemd credentials (LoadCredential): each
        `name = path` becomes readable by the service as ${credentialsDir}/name, also with
        DynamicUser. Refer to them from `*_file` settings, e.g.
        `settings.api.token_file = "${credentialsDir}/api-token"`.
      '';
    };

    busCredentialsFile = nullable types.path ''
      Secret file with this node's NATS credentials for `settings.bus.url` (a .creds file, an nkey
      user seed or one `user:password` line; docs/bus.md). Handed over as the systemd credential
      `bus` and used as `settings.bus.credentials_file`; never copied into the Nix store.
    '';

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open `settings.api.port` (TCP) in the firewall. Nothing else is opened.";
    };

    manageUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "ollama.service" "vllm-qwen.service" ];
      description = ''
        systemd units the daemon manages: self-healing watches them (the default of
        `settings.healing.units`) and may start, stop and restart them over D-Bus. A polkit rule
        grants exactly these units to the service user; nothing else is allowed. The services this
        module runs itself (nats.service with `nats.enable`, qdrant/neo4j with the `memory`
        options) are added to this list; definitions are merged.
      '';
    };

    memory = {
      archival = mkOption {
        type = types.enum [ "embedded" "qdrant" ];
        default = "embedded";
        description = ''
          Where a memory node keeps its passages: `embedded` (qdrant-edge in the state dir, no
          server) or `qdrant` (nixpkgs' services.qdrant on this host, managed and watched by Hydra).
        '';
      };
      graph = mkOption {
        type = types.enum [ "embedded" "neo4j" ];
        default = "embedded";
        description = ''
          Where a memory node keeps its knowledge graph: `embedded` (ladybug in the state dir) or
          `neo4j` (nixpkgs' services.neo4j on this host, bolt on loopback; set `neo4jPasswordFile`).
        '';
      };
      neo4jPasswordFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "File with the neo4j user's password (handed to the daemon as a credential).";
      };
    };

    nats = {
      enable = mkEnableOption ''
        a local NATS server (services.nats, JetStream on) clustered with the other Hydra nodes;
        `settings.bus.url` then defaults to it'';
      clusterName = mkOption {
        type = types.str;
        default = "hydra";
        description = "NATS cluster name; the same on every node.";
      };
      clusterPort = mkOption {
        type = types.port;
        default = 6222;
        description = "Port for routes between the NATS servers.";
      };
      routes = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "nats-route://gpu-node:6222" "nats-route://compute-node:6222" ];
        description = "Route URLs of all cluster servers (a server ignores the route to itself).";
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = "Open `nats.clusterPort` (TCP) for the routes. The client port stays on loopback.";
      };
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = builtins.match "[A-Za-z0-9_-]{1,64}" cfg.settings.node.id != null;
          message = "services.hydra-os.settings.node.id = ${builtins.toJSON cfg.settings.node.id}: expected 1-64 characters from A-Z, a-z, 0-9, '-' and '_'.";
        }
        {
          # DynamicUser: only the StateDirectory is owned by (and writable for) the service user.
          assertion = let d = toString cfg.settings.node.state_dir; in
            d == stateDir || builtins.substring 0 (builtins.stringLength stateDir + 1) d == "${stateDir}/";
          message = "services.hydra-os.settings.node.state_dir = ${toString cfg.settings.node.state_dir}: expected ${stateDir} or a directory below it (the unit's StateDirectory); mount a data disk at /var/lib to move the data.";
        }
        {
          assertion = cfg.settings.node.roles == cfg.roles;
          message = "services.hydra-os.settings.node.roles = ${builtins.toJSON cfg.settings.node.roles}: roles are set in one place, services.hydra-os.roles (settings.node.roles follows it); move the list there.";
        }
        {
          assertion = cfg.roles != [ ];
          message = "services.hydra-os.roles is empty: give the node at least one role.";
        }
      ];
      warnings = optional (cfg.openFirewall && builtins.elem cfg.settings.api.host [ "127.0.0.1" "::1" "localhost" ])
        "services.hydra-os.openFirewall opens port ${toString cfg.settings.api.port}, but settings.api.host is ${cfg.settings.api.host}: set api.host to 0.0.0.0 to reach the API from the network.";

      environment.etc."hydra-os/config.toml".source = configFile;
      # The CLI (`hydra status`, `hydra nodes`, `hydra doctor`) for the admin; it reads the same file.
      environment.systemPackages = [ cfg.package ];

      networking.firewall.allowedTCPPorts =
        optional cfg.openFirewall cfg.settings.api.port
        ++ optional (cfg.nats.enable && cfg.nats.openFirewall) cfg.nats.clusterPort;

      systemd.services.hydra-os = {
        description = "Hydra OS node daemon";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ] ++ optional cfg.nats.enable "nats.service";
        after = [ "network-online.target" ] ++ optional cfg.nats.enable "nats.service";
        restartTriggers = [ configFile ];
        # restic for backup.restic_repository (copies of each backup; the password from a file);
        # espeak-ng for the creative studio's default voices: creative.espeak_path is "espeak-ng",
        # looked up on PATH, and the studio is on unless creative.enabled = false
        path = optional (((cfg.settings.backup or { }).restic_repository or null) != null) pkgs.restic
          ++ optional ((cfg.settings.creative or { }).enabled or true) pkgs.espeak-ng;
        environment = {
          HYDRA_CONFIG = "/etc/hydra-os/config.toml";
          # Model engines (vLLM, llama-server, TabbyAPI) are children of the daemon and expect a
          # writable HOME and cache: both live under the unit's own directories.
          HOME = "${stateDir}/home";
          XDG_CACHE_HOME = cacheDir;
          HF_HOME = "${cacheDir}/huggingface";
        };

        serviceConfig = mkMerge [
          {
            ExecStart = "${daemonExe} run";
            # sd_notify: READY=1 once bus, membership and API are up; WATCHDOG=1 at half the
            # timeout while the event loop is healthy. Only the main process may notify.
            Type = "notify";
            NotifyAccess = "main";
            WatchdogSec = "30s";
            Restart = "on-failure";
            RestartSec = "2s";
            # SIGTERM goes to the daemon only; it drains and stops its own children (the
            # embedded nats-server, engines) last. Leftovers get SIGKILL after the timeout.
            KillMode = "mixed";
            TimeoutStopSec = "${toString stopTimeoutSec}s";

            DynamicUser = true;
            User = "hydra-os";
            Group = "hydra-os";
            StateDirectory = "hydra-os";
            StateDirectoryMode = "0700";
            CacheDirectory = "hydra-os";
            CacheDirectoryMode = "0700";
            WorkingDirectory = stateDir;
            UMask = "0077";

            ProtectSystem = "strict";
            ProtectHome = true;
            PrivateTmp = true;
            PrivateMounts = true;
            # Relaxed for the gpu role (see DeviceAllow below): PrivateDevices would hide /dev/nvidia*.
            PrivateDevices = !gpu;
            DevicePolicy = "closed";
            PrivateUsers = true;
            NoNewPrivileges = true;
            ProtectClock = true;
            ProtectHostname = true;
            ProtectKernelLogs = true;
            ProtectKernelModules = true;
            ProtectKernelTunables = true;
            ProtectControlGroups = true;
            ProtectProc = "invisible";
            # Relaxation: psutil reads system-wide /proc files (meminfo, stat, loadavg) for the
            # node's CPU/RAM in membership heartbeats; ProcSubset=pid would hide them.
            ProcSubset = "all";
            RestrictNamespaces = true;
            RestrictRealtime = true;
            RestrictSUIDSGID = true;
            RemoveIPC = true;
            LockPersonality = true;
            # Relaxed for the gpu role: model engines are started as children and inherit this
            # sandbox; CUDA's JIT and PyTorch need writable+executable memory.
            MemoryDenyWriteExecute = !gpu;
            CapabilityBoundingSet = [ "" ];
            AmbientCapabilities = [ "" ];
            # AF_UNIX: sd_notify datagrams and the D-Bus system bus (unit control for healing);
            # AF_INET/AF_INET6: NATS and the HTTP API; AF_NETLINK: psutil lists network
            # interfaces (getifaddrs) for the node's addresses.
            RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" ];
            SystemCallArchitectures = "native";
            SystemCallFilter = [ "@system-service" "~@privileged" ];
            SystemCallErrorNumber = "EPERM";
          }

          (mkIf gpu {
            # The gpu role reads NVML and starts model engines (vLLM, TabbyAPI, llama.cpp) as
            # children. With PrivateDevices off, DevicePolicy=closed still limits device access
            # to the basic pseudo devices plus exactly these NVIDIA (and DRM) device groups.
            DeviceAllow = [
              "char-nvidiactl"
              "char-nvidia-frontend"
              "char-nvidia-uvm"
              "char-nvidia-caps"
              "char-drm"
            ];
          })

          (mkIf (cfg.environmentFile != null) {
            EnvironmentFile = toString cfg.environmentFile;
          })

          (mkIf (cfg.credentials != { }) {
            LoadCredential = lib.mapAttrsToList (name: path: "${name}:${toString path}") cfg.credentials;
          })

          # ProtectSystem=strict: a backup destination outside the StateDirectory (a NAS mount) is
          # the one other path the daemon may write (hydra_os/backup, docs/recovery.md).
          (mkIf (backupDest != null) { ReadWritePaths = [ (toString backupDest) ]; })
        ];
      };
    }

    {
      # NixOS switch/rollback as root, on request: the daemon (DynamicUser, ProtectSystem=strict)
      # starts hydra-os-nixos@<verb>-<generation>.service; the helper accepts only the verbs above
      # and a generation of the system profile, and writes its result to /run/hydra-os-nixos.
      systemd.services."hydra-os-nixos@" = {
        description = "Hydra OS privileged NixOS action %i";
        environment = {
          HYDRA_CONFIG = "/etc/hydra-os/config.toml";
          HYDRA_NIXOS_RESULT_DIR = "/run/hydra-os-nixos";
        };
        path = [ config.nix.package ];
        serviceConfig = {
          Type = "oneshot";
          ExecStart = "${lib.getExe' cfg.package "hydra-nixos-helper"} %i";
          RuntimeDirectory = "hydra-os-nixos";
          RuntimeDirectoryMode = "0755";
          RuntimeDirectoryPreserve = true;
          UMask = "0022";
        };
      };
      security.polkit.enable = true;
      security.polkit.extraConfig = ''
        // services.hydra-os: the daemon may start the NixOS helper unit, for these verbs only
        polkit.addRule(function(action, subject) {
          if (action.id == "org.freedesktop.systemd1.manage-units" && subject.user == "hydra-os" &&
              action.lookup("verb") == "start" &&
              /^hydra-os-nixos@(${lib.concatStringsSep "|" helperVerbs})-[0-9]{1,9}\.service$/.test(action.lookup("unit"))) {
            return polkit.Result.YES;
          }
        });
      '';
    }

    (mkIf (managedUnits != [ ]) {
      # Healing restarts failed units through systemd's D-Bus API (never sudo: NoNewPrivileges
      # forbids setuid helpers). polkit grants the service user just these units and verbs.
      security.polkit.enable = true;
      security.polkit.extraConfig = ''
        // services.hydra-os.manageUnits
        polkit.addRule(function(action, subject) {
          var units = ${builtins.toJSON managedUnits};
          var verbs = ["start", "stop", "restart", "try-restart", "reload-or-restart"];
          if (action.id == "org.freedesktop.systemd1.manage-units" && subject.user == "hydra-os" &&
              units.indexOf(action.lookup("unit")) >= 0 && verbs.indexOf(action.lookup("verb")) >= 0) {
            return polkit.Result.YES;
          }
        });
      '';
    })

    (mkIf (cfg.busCredentialsFile != null) {
      services.hydra-os.credentials.bus = cfg.busCredentialsFile;
      services.hydra-os.settings.bus.credentials_file = mkDefault "${credentialsDir}/bus";
    })

    (mkIf (cfg.memory.archival == "qdrant") {
      services.qdrant.enable = true;
      services.hydra-os.manageUnits = [ "qdrant.service" ];
      services.hydra-os.settings.memory.archival = {
        backend = "qdrant";
        url = mkDefault "http://127.0.0.1:${toString (config.services.qdrant.settings.service.http_port or 6333)}";
      };
      systemd.services.hydra-os = { wants = [ "qdrant.service" ]; after = [ "qdrant.service" ]; };
    })

    (mkIf (cfg.memory.graph == "neo4j") {
      assertions = [{
        assertion = cfg.memory.neo4jPasswordFile != null;
        message = "services.hydra-os.memory.graph = \"neo4j\" needs services.hydra-os.memory.neo4jPasswordFile.";
      }];
      services.neo4j = {
        enable = true;
        # bolt only on loopback, where TLS adds nothing; the daemon is its only client
        bolt.listenAddress = mkDefault "127.0.0.1:7687";
        bolt.tlsLevel = mkDefault "DISABLED";
        https.enable = mkDefault false;
      };
      services.hydra-os.manageUnits = [ "neo4j.service" ];
      services.hydra-os.credentials.neo4j-password = cfg.memory.neo4jPasswordFile;
      services.hydra-os.settings.memory.graph = {
        backend = "neo4j";
        url = mkDefault "neo4j://${config.services.neo4j.bolt.listenAddress}";
        password_file = "${credentialsDir}/neo4j-password";
      };
      systemd.services.hydra-os = { wants = [ "neo4j.service" ]; after = [ "neo4j.service" ]; };
    })

    (mkIf cfg.nats.enable {
      services.nats = {
        enable = true;
        jetstream = true;
        # One server per node; JetStream clustering needs unique server names.
        serverName = mkDefault cfg.settings.node.id;
        settings.cluster = {
          name = cfg.nats.clusterName;
          listen = "0.0.0.0:${toString cfg.nats.clusterPort}";
          routes = cfg.nats.routes;
        };
      };
      services.hydra-os.manageUnits = [ "nats.service" ];
      services.hydra-os.settings.bus.url = mkDefault [ "nats://127.0.0.1:${toString config.services.nats.port}" ];
    })
  ]);
}
