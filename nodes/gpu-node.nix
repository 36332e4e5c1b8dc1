# GPU node: model engines (gpu) and the HTTP gateway the owner's clients talk to.
{ pkgs, ... }:
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
    # The model this node starts with the daemon: llama.cpp's server (nixpkgs, CUDA build) as a
    # child of the daemon, with HOME and caches under the unit's directories. Hydra never
    # downloads weights: copy the GGUF file to this path first.
    settings.models = {
      llama_server_command = [ "${pkgs.llama-cpp.override { cudaSupport = true; }}/bin/llama-server" ];
      model = [{
        id = "qwen3-8b";
        engine = "llama-server";
        path = "/var/lib/hydra-os/models/Qwen3-8B-Q4_K_M.gguf";
        tier = "standard";
        context_length = 16384;
        vram_mb = 8192;
        autostart = true;
      }];
    };
  };
}
