# The slice of NixOS option declarations the Hydra module and the example hosts define, with
# the types NixOS gives them (so a definition NixOS would reject is rejected here too), plus a
# re-implementation of the interface of nixpkgs' services.nats module (options and how it fills
# its JSON settings). Anything not declared here is an error, as in NixOS.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types mkIf;
  str = default: mkOption { type = types.str; inherit default; };
  bool = default: mkOption { type = types.bool; inherit default; };
  strList = mkOption { type = types.listOf types.str; default = [ ]; };

  # nixpkgs nixos/lib/systemd-lib.nix: unit options; lists accumulate, scalars must agree.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    description = "systemd option";
    check = x: builtins.any (f: f x) [ builtins.isBool builtins.isInt builtins.isString builtins.isList builtins.isPath ]
      || (builtins.isAttrs x && x ? outPath);
    merge = loc: defs:
      if builtins.any (d: builtins.isList d.value) defs
      then builtins.concatMap (d: lib.toList d.value) defs
      else lib.mergeEqualOption loc defs;
  };

  serviceModule = { name, ... }: {
    options = {
      enable = bool true;
      description = str "";
      wantedBy = strList;
      requiredBy = strList;
      wants = strList;
      requires = strList;
      after = strList;
      before = strList;
      bindsTo = strList;
      partOf = strList;
      restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      path = mkOption { type = types.listOf (types.either types.package types.str); default = [ ]; };
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
      };
      serviceConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
      unitConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
      script = mkOption { type = types.lines; default = ""; };
    };
  };

  etcModule = { name, ... }: {
    options = {
      enable = bool true;
      target = str name;
      source = mkOption { type = types.path; };
      mode = str "symlink";
      user = str "+0";
      group = str "+0";
    };
  };

  fsModule = { name, ... }: {
    options = {
      mountPoint = str name;
      device = mkOption { type = types.nullOr types.str; default = null; };
      fsType = str "auto";
      options = mkOption { type = types.listOf types.str; default = [ "defaults" ]; };
    };
  };

  natsCfg = config.services.nats;
  natsFormat = pkgs.formats.json { };
in
{
  options = {
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    warnings = mkOption { type = types.listOf types.str; default = [ ]; };

    system.stateVersion = str "25.05";
    nixpkgs.hostPlatform = mkOption { type = types.either types.str types.unspecified; default = "x86_64-linux"; };
    nixpkgs.config = mkOption { type = types.attrsOf types.anything; default = { }; };
    time.timeZone = mkOption { type = types.nullOr types.str; default = null; };

    boot.loader.grub.enable = bool true;
    boot.loader.grub.devices = strList;
    boot.loader.systemd-boot.enable = bool false;
    boot.loader.efi.canTouchEfiVariables = bool false;
    boot.initrd.availableKernelModules = strList;
    fileSystems = mkOption { type = types.attrsOf (types.submodule fsModule); default = { }; };

    networking.hostName = str "nixos";
    networking.hosts = mkOption { type = types.attrsOf (types.listOf types.str); default = { }; };
    networking.firewall.enable = bool true;
    networking.firewall.allowedTCPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
    networking.firewall.allowedUDPPorts = mkOption { type = types.listOf types.port; default = [ ]; };

    environment.etc = mkOption { type = types.attrsOf (types.submodule etcModule); default = { }; };
    environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };

    systemd.services = mkOption { type = types.attrsOf (types.submodule serviceModule); default = { }; };

    # nixpkgs nixos/modules/config/nix.nix: the Nix the system runs (nix-env for the helper unit)
    nix.package = mkOption { type = types.package; default = pkgs.nix; };

    security.polkit.enable = bool true;
    security.polkit.extraConfig = mkOption { type = types.lines; default = ""; };

    services.openssh.enable = bool false;
    services.xserver.videoDrivers = strList;
    hardware.graphics.enable = bool false;
    hardware.nvidia.open = mkOption { type = types.nullOr types.bool; default = null; };
    hardware.nvidia.modesetting.enable = bool false;
    hardware.nvidia.package = mkOption { type = types.package; default = pkgs.linuxPackages.nvidiaPackages.stable; };

    # nixpkgs nixos/modules/services/search/qdrant.nix (interface; settings default as there)
    services.qdrant = {
      enable = bool false;
      settings = mkOption {
        type = types.attrsOf types.anything;
        default = { service = { host = "127.0.0.1"; http_port = 6333; grpc_port = 6334; }; telemetry_disabled = true; };
      };
    };
    # nixpkgs nixos/modules/services/databases/neo4j.nix (interface)
    services.neo4j = {
      enable = bool false;
      bolt.enable = bool true;
      bolt.listenAddress = str ":7687";
      bolt.tlsLevel = mkOption { type = types.enum [ "REQUIRED" "OPTIONAL" "DISABLED" ]; default = "REQUIRED"; };
      https.enable = bool true;
    };

    # nixpkgs nixos/modules/services/networking/nats.nix (interface)
    services.nats = {
      enable = bool false;
      user = str "nats";
      group = str "nats";
      serverName = str "nats";
      jetstream = bool false;
      host = str "127.0.0.1";
      port = mkOption { type = types.port; default = 4222; };
      dataDir = mkOption { type = types.path; default = "/var/lib/nats"; };
      settings = mkOption { type = natsFormat.type; default = { }; };
    };
  };

  config = mkIf natsCfg.enable {
    services.nats.settings = {
      server_name = natsCfg.serverName;
      host = natsCfg.host;
      port = natsCfg.port;
      jetstream = lib.optionalAttrs natsCfg.jetstream { store_dir = natsCfg.dataDir; };
    };
    systemd.services.nats = {
      description = "NATS messaging system";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      serviceConfig = {
        Type = "simple";
        ExecStart = "${pkgs.nats-server}/bin/nats-server -c ${natsFormat.generate "nats.conf" natsCfg.settings}";
        Restart = "on-failure";
      };
    };
  };
}
