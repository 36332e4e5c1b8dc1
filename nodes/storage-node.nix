# Storage node: owns the memory stores (archival vectors, knowledge graph, core memory).
{ ... }:
{
  imports = [ ./common.nix ];

  networking.hostName = "storage-node";

  # The data disk holds /var/lib, so Hydra's state directory (/var/lib/hydra-os, owned by the
  # service's dynamic user) and the NATS JetStream store live on it.
  fileSystems."/var/lib" = { device = "/dev/disk/by-label/hydra-data"; fsType = "ext4"; };

  services.hydra-os.roles = [ "memory" ];
}
