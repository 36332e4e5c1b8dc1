# Render a systemd.services.<name> definition to unit-file text the way NixOS does
# (nixos/lib/systemd-lib.nix and systemd-unit-options): [Unit] from the dependency lists and
# unitConfig, [Service] with one Environment= line per variable (PATH from `path` plus the
# default tools), then serviceConfig where a list becomes one line per element and Booleans
# become true/false.
{ lib, pkgs }:
name: s:
let
  inherit (builtins) attrNames concatStringsSep concatMap isList map toJSON;
  toOption = x: if x == true then "true" else if x == false then "false" else toString x;
  section = as: concatStringsSep "" (concatMap (k:
    map (x: "${k}=${toOption x}\n") (if isList as.${k} then as.${k} else [ as.${k} ])) (attrNames as));
  joined = key: xs: lib.optionalAttrs (xs != [ ]) { ${key} = concatStringsSep " " xs; };
  unit = { Description = s.description; }
    // joined "Wants" s.wants // joined "After" s.after // joined "Requires" s.requires
    // joined "Before" s.before // joined "BindsTo" s.bindsTo // joined "PartOf" s.partOf
    // lib.optionalAttrs (s.restartTriggers != [ ]) { X-Restart-Triggers = concatStringsSep " " (map toString s.restartTriggers); }
    // s.unitConfig;
  path = s.path ++ [ pkgs.coreutils pkgs.systemd ];
  env = { PATH = concatStringsSep ":" (map (p: "${p}/bin") path); } // lib.filterAttrs (_: v: v != null) s.environment;
  envLines = concatStringsSep "" (map (k: "Environment=${toJSON "${k}=${toString env.${k}}"}\n") (attrNames env));
in
"[Unit]\n" + section unit + "\n[Service]\n" + envLines + section s.serviceConfig
