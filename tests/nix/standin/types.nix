# Option types of the stand-in, with nixpkgs' check and merge behaviour (lib/types.nix):
# scalars accept several definitions only when they are equal; listOf concatenates; attrsOf
# merges per attribute (discharging mkIf/mkOverride inside); nullOr refuses null mixed with
# values; submodule evaluates its own modules (with freeformType); lines joins with newlines.
{ lib }:
let
  inherit (builtins)
    all attrNames concatLists concatMap concatStringsSep filter foldl' genList head isAttrs isBool
    isFloat isFunction isInt isList isPath isString length map mapAttrs substring toJSON typeOf
    zipAttrsWith;
  inherit (lib) mkOptionType mergeEqualOption mergeOneOption mergeDefinitions showOption;

  isStringLike = x: isString x || isPath x || (isAttrs x && x ? outPath);

  mergeDefaultOption = loc: defs:
    let list = map (d: d.value) defs; in
    if length list == 1 then head list
    else if all isList list then concatLists list
    else if all isAttrs list then foldl' (a: b: a // b) { } list
    else if all isBool list then builtins.any (x: x) list
    else if all isString list then concatStringsSep "" list
    else if all isInt list && all (x: x == head list) list then head list
    else throw "Cannot merge definitions of `${showOption loc}'.${lib.showDefs defs}";

  imap1 = f: xs: genList (i: f (i + 1) (builtins.elemAt xs i)) (length xs);

  types = rec {
    unspecified = mkOptionType { name = "unspecified"; merge = mergeDefaultOption; };
    anything = mkOptionType { name = "anything"; description = "anything"; merge = mergeDefaultOption; };
    bool = mkOptionType { name = "bool"; description = "boolean"; check = isBool; };
    int = mkOptionType { name = "int"; description = "signed integer"; check = isInt; };
    float = mkOptionType { name = "float"; description = "floating point number"; check = isFloat; };
    number = either int float;
    port = mkOptionType {
      name = "port";
      description = "16 bit unsigned integer; between 0 and 65535 (both inclusive)";
      check = x: isInt x && x >= 0 && x <= 65535;
    };
    str = mkOptionType { name = "str"; description = "string"; check = isString; };
    nonEmptyStr = mkOptionType {
      name = "nonEmptyStr";
      description = "non-empty string";
      check = x: isString x && builtins.match "[ \t\n]*" x == null;
    };
    lines = mkOptionType {
      name = "lines";
      description = "strings concatenated with \"\\n\"";
      check = isString;
      merge = loc: defs: concatStringsSep "\n" (map (d: d.value) defs);
    };
    path = mkOptionType {
      name = "path";
      description = "absolute path";
      check = x: isStringLike x && substring 0 1 (toString x) == "/";
    };
    package = mkOptionType {
      name = "package";
      description = "package";
      check = x: lib.isDerivation x || (isString x && substring 0 11 x == "/nix/store/");
      merge = mergeOneOption;
    };
    enum = values: mkOptionType {
      name = "enum";
      description = "one of ${concatStringsSep ", " (map toJSON values)}";
      check = x: builtins.elem x values;
      nestedTypes.values = values;
    };
    listOf = elemType: mkOptionType {
      name = "listOf";
      description = "list of ${elemType.description}";
      check = isList;
      merge = loc: defs: map (x: x.value) (filter (x: x ? value) (concatLists (imap1 (n: def:
        imap1 (m: v: (mergeDefinitions (loc ++ [ "[definition ${toString n}-entry ${toString m}]" ]) elemType
          [ { inherit (def) file; value = v; } ]).optionalValue) def.value) defs)));
      nestedTypes.elemType = elemType;
    };
    attrsOf = elemType: mkOptionType {
      name = "attrsOf";
      description = "attribute set of ${elemType.description}";
      check = isAttrs;
      merge = loc: defs:
        let
          zipped = zipAttrsWith (name: ds: (mergeDefinitions (loc ++ [ name ]) elemType ds).optionalValue)
            (map (def: mapAttrs (_: v: { inherit (def) file; value = v; }) def.value) defs);
        in
        mapAttrs (_: v: v.value) (lib.filterAttrs (_: v: v ? value) zipped);
      nestedTypes.elemType = elemType;
    };
    nullOr = elemType: mkOptionType {
      name = "nullOr";
      description = "null or ${elemType.description}";
      check = x: x == null || elemType.check x;
      merge = loc: defs:
        let nulls = length (filter (d: d.value == null) defs); in
        if nulls == length defs then null
        else if nulls != 0 then throw "The option `${showOption loc}' is defined both null and not null.${lib.showDefs defs}"
        else elemType.merge loc defs;
      nestedTypes.elemType = elemType;
    };
    either = t1: t2: mkOptionType {
      name = "either";
      description = "${t1.description} or ${t2.description}";
      check = x: t1.check x || t2.check x;
      merge = loc: defs:
        let values = map (d: d.value) defs; in
        if all t1.check values then t1.merge loc defs
        else if all t2.check values then t2.merge loc defs
        else mergeOneOption loc defs;
    };
    oneOf = ts: foldl' either (head ts) (builtins.tail ts);

    # types.submodule: the definitions become config of extra modules; `name` is the attribute
    # name when used under attrsOf.
    submodule = module: mkOptionType {
      name = "submodule";
      description = "submodule";
      check = x: isAttrs x || isFunction x || isPath x;
      merge = loc: defs: (lib.evalModules {
        modules = [ module ] ++ map (d:
          if isAttrs d.value then { _file = d.file; config = d.value; } else { _file = d.file; imports = [ d.value ]; }) defs;
        prefix = loc;
        specialArgs = { name = lib.last loc; };
      }).config;
      getSubModules = [ module ];
    };
  };
in
types
