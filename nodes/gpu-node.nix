# GPU node: model engines (gpu) and the HTTP gateway the owner's clients talk to.
{ ... }:
{
  imports = [ ./common.nix ];

  networking.hostName = "gpu-node";

  # NVIDIA driver (proprietary; the open kernel module on Turing and newer).
  nixpkgs.config.allowUnfree = true;
  services.xserver.videoDrivers = [ "nvidia" ];
  hardware.graphics.enable = true;
  hardware.nvidia.open = true;
  hardware.nvidia.modesetting.enable = true;

  services.hydra-os = {
    roles = [ "gpu" "gateway" ];
    # The gateway serves the LAN: bind all interfaces and open the API port.
    openFirewall = true;
    settings.api = {
      host = "0.0.0.0";
      advertise_url = "http://gpu-node:8700";
    };
  };
}
