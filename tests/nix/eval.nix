# Evaluate modules/hydra-os.nix (and optionally an example host from nodes/) with the
# module-system stand-in, the way `nixosSystem` would, and return plain data for the tests:
#   nix-instantiate --eval --strict --json tests/nix/eval.nix --arg modules '[ ... ]'
#
# Arguments:
#   modules        extra modules (attribute sets, functions or paths), e.g. a host file
#   host           name of a file nodes/<host>.nix to include (or null)
#   packageOutPath point the hydra-os package at a real directory (or null for a fake one)
#   flakeWrapper   also apply the flake's nixosModules.default wrapper (package = mkDefault ...)
{ modules ? [ ], host ? null, packageOutPath ? null, flakeWrapper ? false }:
let
  lib = import ./standin/lib.nix;
  pkgs = import ./standin/pkgs.nix { inherit lib packageOutPath; };
  flakePackage = pkgs.fakeDrv { name = "hydra-os-from-flake-0.1.0"; pname = "hydra-os"; mainProgram = "hydra"; };

  eval = lib.evalModules {
    modules = [ ./standin/nixos.nix ../../modules/hydra-os.nix ]
      ++ lib.optional (host != null) (../../nodes + "/${host}.nix")
      ++ lib.optional flakeWrapper { services.hydra-os.package = lib.mkDefault flakePackage; }
      ++ modules;
    specialArgs = { inherit pkgs; };
  };

  config =
    let failed = builtins.filter (a: !a.assertion) eval.config.assertions; in
    if failed != [ ] then throw "Failed assertions:\n- ${lib.concatMapStringsSep "\n- " (a: a.message) failed}"
    else eval.config;

  render = import ./standin/render-unit.nix { inherit lib pkgs; };
  svc = config.systemd.services;
  cfg = config.services.hydra-os;
  etc = config.environment.etc;
in
{
  enabled = cfg.enable;
  hostName = config.networking.hostName;
  warnings = config.warnings;
  firewall.allowedTCPPorts = config.networking.firewall.allowedTCPPorts;
  systemPackages = map (p: p.name or (toString p)) config.environment.systemPackages;
  polkit = { enable = config.security.polkit.enable; extraConfig = config.security.polkit.extraConfig; };
  etc = builtins.mapAttrs (_: e: { source = "${e.source}"; mode = e.mode; text = e.source.text or null; }) etc;
  configToml = if etc ? "hydra-os/config.toml" then etc."hydra-os/config.toml".source.text else null;
  units = builtins.mapAttrs (name: s: {
    inherit (s) description wantedBy wants after environment serviceConfig;
    restartTriggers = map toString s.restartTriggers;
    text = render name s;
  }) svc;
  nats = {
    inherit (config.services.nats) enable serverName jetstream host port;
    settings = config.services.nats.settings;
    configText = ((pkgs.formats.json { }).generate "nats.conf" config.services.nats.settings).text;
  };
}
