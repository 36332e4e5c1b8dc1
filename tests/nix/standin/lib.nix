# A small stand-in for nixpkgs' `lib`, enough to evaluate modules/hydra-os.nix and nodes/*.nix
# offline with plain `nix-instantiate` (no nixpkgs, no flakes).
#
# It follows the real module system's semantics for everything the Hydra module uses:
#   - option declarations (mkOption, mkEnableOption, mkPackageOption) with types that check
#     every definition and merge several definitions the way nixpkgs' types do;
#   - properties mkIf / mkMerge / mkOverride (mkDefault = 1000, mkForce = 50, option default =
#     1500, plain definitions = 100): pushed down through attribute sets lazily (a condition is
#     only evaluated when a leaf option is merged), discharged at the option, and only the
#     definitions with the highest priority (lowest number) are merged;
#   - submodules (also `attrsOf (submodule ...)` with `name`), freeformType, definitions of
#     undeclared options are an error outside freeform submodules.
# What it leaves out (mkOrder, mkAliasOptionModule, disabledModules, option `apply`, docs) is
# not used by the Hydra module; using it fails loudly instead of being ignored.
let
  modules = import ./modules.nix { inherit lib; };

  lib = rec {
    inherit (builtins)
      attrNames attrValues concatMap concatStringsSep elem filter foldl' genList head isAttrs
      isBool isFloat isFunction isInt isList isPath isString length listToAttrs map mapAttrs
      removeAttrs tail toJSON typeOf;

    inherit (modules) evalModules mergeDefinitions dischargeProperties pushDownProperties;

    # ---- attribute sets and lists ------------------------------------------------------------
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalAttrs = cond: as: if cond then as else { };
    optionalString = cond: s: if cond then s else "";
    any = builtins.any;
    all = builtins.all;
    last = xs: builtins.elemAt xs (length xs - 1);
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    flatten = x: if isList x then concatMap flatten x else [ x ];
    toList = x: if isList x then x else [ x ];
    nameValuePair = name: value: { inherit name value; };
    mapAttrs' = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
    mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
    filterAttrs = pred: set: listToAttrs (concatMap (n:
      if pred n set.${n} then [ { name = n; value = set.${n}; } ] else [ ]) (attrNames set));
    filterAttrsRecursive = pred: set: listToAttrs (concatMap (n:
      let v = set.${n}; in
      if pred n v then [ {
        name = n;
        value = if isAttrs v then filterAttrsRecursive pred v else v;
      } ] else [ ]) (attrNames set));
    attrByPath = path: default: set:
      if path == [ ] then set
      else if isAttrs set && set ? ${head path} then attrByPath (tail path) default set.${head path}
      else default;
    setAttrByPath = path: value:
      if path == [ ] then value else { ${head path} = setAttrByPath (tail path) value; };
    recursiveUpdate = lhs: rhs: lhs // mapAttrs (n: v:
      if isAttrs v && lhs ? ${n} && isAttrs lhs.${n}
      then recursiveUpdate lhs.${n} v else v) rhs;
    showOption = loc: concatStringsSep "." loc;
    concatMapStringsSep = sep: f: xs: concatStringsSep sep (map f xs);
    escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
    escapeShellArgs = xs: concatStringsSep " " (map escapeShellArg xs);
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    getExe = pkg: "${pkg}/bin/${pkg.meta.mainProgram or pkg.pname or pkg.name}";
    getExe' = pkg: exe: "${pkg}/bin/${exe}";
    isDerivation = x: isAttrs x && (x.type or null) == "derivation";
    toLower = builtins.replaceStrings
      (builtins.genList (i: builtins.substring i 1 "ABCDEFGHIJKLMNOPQRSTUVWXYZ") 26)
      (builtins.genList (i: builtins.substring i 1 "abcdefghijklmnopqrstuvwxyz") 26);
    assertMsg = pred: msg: pred || throw msg;

    # ---- properties --------------------------------------------------------------------------
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkOptionDefault = mkOverride 1500;
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;
    defaultOverridePriority = 100;

    # ---- options -----------------------------------------------------------------------------
    isOption = x: isAttrs x && (x._type or null) == "option";
    mkOption = { type ? types.unspecified, description ? null, ... }@attrs:
      { _type = "option"; } // attrs // { inherit type; };
    mkEnableOption = name: mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = "Whether to enable ${name}.";
    };
    mkPackageOption = pkgs: name: { default ? [ name ], example ? null, extraDescription ? "", nullable ? false, pkgsText ? "pkgs" }:
      let
        path = if isList default then default else [ default ];
        shown = concatStringsSep "." path;
      in
      mkOption ({
        type = if nullable then types.nullOr types.package else types.package;
        default = attrByPath path (throw "${pkgsText}.${shown} cannot be found in ${pkgsText}") pkgs;
        defaultText = literalExpression "${pkgsText}.${shown}";
        description = "The ${name} package to use." + extraDescription;
      } // optionalAttrs (example != null) { inherit example; });

    # ---- merge helpers (as in nixpkgs lib/options.nix) ---------------------------------------
    showValue = v:
      if isString v || isInt v || isBool v || isFloat v || v == null then toJSON v
      else if isAttrs v && v ? outPath then "<derivation ${v.name or "?"}>"
      else "<${typeOf v}>";
    showDefs = defs: concatStringsSep "" (map (d: "\n  - In `${d.file}': ${showValue d.value}") defs);
    mergeEqualOption = loc: defs:
      if defs == [ ] then throw "Cannot merge definitions of `${showOption loc}' given an empty list."
      else foldl' (acc: d:
        if d.value == acc then acc
        else throw "The option `${showOption loc}' has conflicting definition values:${showDefs defs}")
        (head defs).value (tail defs);
    mergeOneOption = loc: defs:
      if length defs == 1 then (head defs).value
      else throw "The option `${showOption loc}' is defined multiple times while it's expected to be unique.${showDefs defs}";

    mkOptionType = { name, description ? name, check ? (x: true), merge ? mergeEqualOption,
                     getSubModules ? null, nestedTypes ? { }, ... }@attrs:
      { _type = "option-type"; inherit name description check merge getSubModules nestedTypes; }
      // removeAttrs attrs [ "name" "description" "check" "merge" "getSubModules" "nestedTypes" ];

    types = import ./types.nix { inherit lib; };
  };
in
lib
