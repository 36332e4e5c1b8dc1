{
  description = "Hydra OS: a self-hosted AI operating system for a homelab (one daemon per node, joined over NATS)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # pyproject.toml's runtime dependencies are mapped to nixpkgs in modules/package.nix.
      mkHydraOs = import ./modules/package.nix;
      testDeps = ps: with ps; [ pytest pytest-asyncio pytest-timeout hypothesis openai ];  # pyproject's test extra

      hostNames = [ "gpu-node" "compute-node" "storage-node" ];
    in
    {
      overlays.default = final: prev: { hydra-os = final.callPackage mkHydraOs { }; };

      packages = forAllSystems (pkgs: rec {
        hydra-os = pkgs.callPackage mkHydraOs { };
        default = hydra-os;
      });

      # The module as it would live in nixpkgs (package = pkgs.hydra-os) ...
      nixosModules.hydra-os = ./modules/hydra-os.nix;
      # ... and with this flake's package as the default, since pkgs has no hydra-os.
      nixosModules.default = { lib, pkgs, ... }: {
        imports = [ ./modules/hydra-os.nix ];
        services.hydra-os.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.hydra-os;
      };

      nixosConfigurations = lib.genAttrs hostNames (host: lib.nixosSystem {
        modules = [ self.nixosModules.default (./nodes + "/${host}.nix") ];
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            (pkgs.python3.withPackages (ps:
              (pkgs.callPackage mkHydraOs { }).pythonDependencies ++ testDeps ps ++ [ ps.mypy ]))
            pkgs.nats-server
            pkgs.ruff
            pkgs.nix
          ];
          shellHook = ''
            export PYTHONPATH="$PWD''${PYTHONPATH:+:$PYTHONPATH}"
          '';
        };
      });

      checks = forAllSystems (pkgs:
        let
          hydra-os = self.packages.${pkgs.stdenv.hostPlatform.system}.hydra-os;
          # Per example host: the whole system evaluates (toplevel's drvPath is computed without
          # building it), and the generated config.toml passes hydra's own validation.
          hostCheck = host:
            let
              sys = self.nixosConfigurations.${host};
              configFile = sys.config.environment.etc."hydra-os/config.toml".source;
            in
            pkgs.runCommand "hydra-os-host-${host}" {
              nativeBuildInputs = [ hydra-os ];
              toplevel = builtins.unsafeDiscardStringContext sys.config.system.build.toplevel.drvPath;
            } ''
              export HOME=$TMPDIR
              hydra --config ${configFile} config show --json > $out
              echo "evaluated $toplevel" >> $out
            '';
        in
        {
          # The package builds (and imports). The test suite is ./scripts/test (.ci/run); it is not
          # a Nix check because the memory stores' embedded backends are not in nixpkgs.
          inherit hydra-os;
        }
        // lib.optionalAttrs (pkgs.stdenv.hostPlatform.system == "x86_64-linux")
          (lib.genAttrs hostNames hostCheck));
    };
}
