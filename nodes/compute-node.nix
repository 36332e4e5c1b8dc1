# Compute node: runs queued tasks (worker) and holds the cluster's scheduler.
{ ... }:
{
  imports = [ ./common.nix ];

  networking.hostName = "compute-node";

  services.hydra-os = {
    roles = [ "worker" "scheduler" ];
    settings.log.level = "INFO";
  };
}
