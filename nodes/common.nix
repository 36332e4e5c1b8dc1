# Shared by the three example hosts: a hardware-agnostic base (replace the boot and file system
# stubs with your hardware-configuration.nix), the cluster's names, and Hydra on a NATS cluster
# of one server per node (services.nats with routes to each other).
{ lib, ... }:
let
  # The cluster: host name -> LAN address. Every node runs one NATS server; the routes list all
  # of them (a server ignores the route to itself).
  cluster = {
    gpu-node = "10.0.0.11";
    compute-node = "10.0.0.12";
    storage-node = "10.0.0.13";
  };
in
{
  # ---- hardware stubs (enough to evaluate; use your generated hardware configuration) ----
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;
  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };
  fileSystems."/boot" = { device = "/dev/disk/by-label/boot"; fsType = "vfat"; };
  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
  system.stateVersion = "25.05";

  time.timeZone = "Europe/Berlin";
  services.openssh.enable = true;
  networking.hosts = lib.mapAttrs' (name: ip: lib.nameValuePair ip [ name ]) cluster;

  services.hydra-os = {
    enable = true;
    nats = {
      enable = true;
      openFirewall = true;
      routes = map (name: "nats-route://${name}:6222") (builtins.attrNames cluster);
    };
    # nats.enable adds nats.service to manageUnits: self-healing watches it and may restart it.
    settings = {
      owner = {
        timezone = "Europe/Berlin";
        wake_time = "07:00";
        overnight_start = "01:00";
        overnight_end = "06:00";
      };
      membership = { heartbeat_interval = 1.0; gone_after = 3.0; };
      # Three NATS servers: keep Hydra's streams and buckets on all three, so losing one node
      # loses no state.
      bus.replicas = 3;
    };
  };
}
