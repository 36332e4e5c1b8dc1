# Compute node: runs queued tasks (worker) and holds the cluster's scheduler.
{ ... }:
{
  imports = [ ./common.nix ];

  networking.hostName = "compute-node";

  # The NAS share the nightly backups go to (docs/recovery.md): off this machine's disks, so a lost
  # disk or a lost node is recovered from it.
  fileSystems."/mnt/nas" = { device = "nas.home:/export/hydra"; fsType = "nfs"; options = [ "nofail" ]; };

  services.hydra-os = {
    roles = [ "worker" "scheduler" ];
    settings.log.level = "INFO";
    # A worker takes the nightly backup (task backup.run, 01:30 in the owner's zone): memory over the
    # bus from the storage node, the cluster's streams and buckets, this node's state files.
    settings.backup = {
      destination = "/mnt/nas/hydra-backups";
      keep_daily = 7;
      keep_weekly = 8;
    };
  };
}
