# The module-system core of the stand-in: evalModules, property push-down/discharge and
# definition merging, written after nixpkgs' lib/modules.nix (same algorithm, fewer features).
{ lib }:
let
  inherit (builtins)
    attrNames concatMap elem filter foldl' functionArgs head intersectAttrs isAttrs isBool
    isFunction isPath isString length listToAttrs map mapAttrs removeAttrs tail toJSON;

  showOption = loc: builtins.concatStringsSep "." loc;
  defaultPrio = 100;

  # mkMerge/mkIf/mkOverride around an attribute set are moved onto each attribute, without
  # evaluating mkIf's condition (so `mkIf cfg.enable { ... }` can define options it reads).
  pushDownProperties = cfg:
    let t = cfg._type or ""; in
    if t == "merge" then concatMap pushDownProperties cfg.contents
    else if t == "if" then map (mapAttrs (_: v: lib.mkIf cfg.condition v)) (pushDownProperties cfg.content)
    else if t == "override" then map (mapAttrs (_: v: lib.mkOverride cfg.priority v)) (pushDownProperties cfg.content)
    else [ cfg ];

  # At an option: mkMerge is flattened, mkIf evaluated (it must be a Boolean).
  dischargeProperties = def:
    let t = def._type or ""; in
    if t == "merge" then concatMap dischargeProperties def.contents
    else if t == "if" then
      if isBool def.condition then (if def.condition then dischargeProperties def.content else [ ])
      else throw "mkIf called with a non-Boolean condition"
    else [ def ];

  # Only the definitions with the highest priority (lowest number) survive.
  filterOverrides = defs:
    let
      getPrio = def: if (def.value._type or "") == "override" then def.value.priority else defaultPrio;
      highestPrio = foldl' (prio: def: let p = getPrio def; in if p < prio then p else prio) 9999 defs;
      strip = def: if (def.value._type or "") == "override" then def // { value = def.value.content; } else def;
    in
    concatMap (def: if getPrio def == highestPrio then [ (strip def) ] else [ ]) defs;

  mergeDefinitions = loc: type: defs:
    let
      discharged = concatMap (d: map (value: { inherit (d) file; inherit value; }) (dischargeProperties d.value)) defs;
      final = filterOverrides discharged;
      isDefined = final != [ ];
      invalid = filter (d: !(type.check d.value)) final;
      mergedValue =
        if !isDefined then throw "The option `${showOption loc}' is used but not defined."
        else if invalid != [ ] then
          throw "A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values:${lib.showDefs [ (head invalid) ]}"
        else type.merge loc final;
    in
    { inherit isDefined mergedValue; optionalValue = if isDefined then { value = mergedValue; } else { }; };

  # ---- collecting modules --------------------------------------------------------------------
  structuredKeys = [ "_file" "key" "imports" "options" "config" "freeformType" "meta" ];

  normalise = allArgs: file: m:
    let
      fromPath = isPath m || isString m;
      raw = if fromPath then import m else m;
      file' = if fromPath then toString m else file;
      called =
        if isFunction raw then
          let fa = functionArgs raw; in raw (if fa == { } then allArgs else intersectAttrs fa allArgs)
        else raw;
      structured = called ? options || called ? config;
      extra = filter (k: !(elem k structuredKeys)) (attrNames called);
    in
    if !isAttrs called then throw "module ${file'} is not an attribute set or a function returning one"
    else if structured && extra != [ ] then
      throw "Module `${file'}' has an unsupported attribute `${head extra}'. Move it under `config'."
    else {
      file = called._file or file';
      key = called.key or (if fromPath then file' else null);
      imports = called.imports or [ ];
      options = called.options or { };
      config = if structured then called.config or { } else removeAttrs called structuredKeys;
      freeformType = called.freeformType or null;
    };

  collect = allArgs: file: ms:
    concatMap (m: let n = normalise allArgs file m; in [ n ] ++ collect allArgs n.file n.imports) ms;

  dedupe = foldl' (acc: m:
    if m.key != null && elem m.key acc.keys then acc
    else { keys = acc.keys ++ [ m.key ]; mods = acc.mods ++ [ m ]; }) { keys = [ ]; mods = [ ]; };

  # ---- option declarations -------------------------------------------------------------------
  annotate = file: t:
    if lib.isOption t then t // { declarations = [ file ]; }
    else if isAttrs t then mapAttrs (_: annotate file) t
    else throw "option declaration in ${file} is neither an option nor an attribute set of options";

  mergeDecls = loc: a: b: a // mapAttrs (n: v:
    if a ? ${n} then
      (if lib.isOption v || lib.isOption a.${n}
       then throw "The option `${showOption (loc ++ [ n ])}' is declared more than once (in ${toJSON (a.${n}.declarations or [ ])} and ${toJSON (v.declarations or [ ])})."
       else mergeDecls (loc ++ [ n ]) a.${n} v)
    else v) b;

  # ---- definitions ---------------------------------------------------------------------------
  pushed = loc: d: map (v:
    if isAttrs v && !(v ? _type) then v
    else throw "A definition for `${showOption loc}' in ${d.file} must be an attribute set (options `${showOption loc}.*' live there), got ${toJSON v}")
    (pushDownProperties d.value);

  childDefs = loc: n: defs: concatMap (d:
    concatMap (v: if v ? ${n} then [ { inherit (d) file; value = v.${n}; } ] else [ ]) (pushed loc d)) defs;

  evalTree = loc: tree: defs:
    if lib.isOption tree then
      let
        dflt = if tree ? default then [ { file = head tree.declarations; value = lib.mkOptionDefault tree.default; } ] else [ ];
      in (mergeDefinitions loc tree.type (dflt ++ defs)).mergedValue
    else mapAttrs (n: sub: evalTree (loc ++ [ n ]) sub (childDefs loc n defs)) tree;

  # Definitions whose path is not a declared option; `prefix` is relative to the module root.
  unmatched = loc: rel: tree: defs: concatMap (d: concatMap (v: concatMap (n:
    if tree ? ${n} then
      (if lib.isOption tree.${n} then [ ] else unmatched (loc ++ [ n ]) (rel ++ [ n ]) tree.${n} [ { inherit (d) file; value = v.${n}; } ])
    else [ { inherit (d) file; prefix = rel ++ [ n ]; value = v.${n}; } ]) (attrNames v)) (pushed loc d)) defs;

  evalModules = { modules, prefix ? [ ], specialArgs ? { } }:
    let
      allArgs = { inherit lib config options; } // specialArgs;
      mods = (dedupe (collect allArgs "<unknown file>" modules)).mods;
      options = foldl' (mergeDecls prefix) { } (map (m: annotate m.file m.options) mods);
      defs = map (m: { inherit (m) file; value = m.config; }) mods;
      freeforms = filter (t: t != null) (map (m: m.freeformType) mods);
      freeformType = if freeforms == [ ] then null else head freeforms;
      declared = evalTree prefix options defs;
      leftovers = unmatched prefix [ ] options defs;
      freeformConfig =
        if leftovers == [ ] then { }
        else (mergeDefinitions prefix freeformType
          (map (u: { inherit (u) file; value = lib.setAttrByPath u.prefix u.value; }) leftovers)).mergedValue;
      config = if freeformType == null then declared else lib.recursiveUpdate freeformConfig declared;
      checked =
        if freeformType == null && leftovers != [ ] then
          let u = head leftovers; in
          throw "The option `${showOption (prefix ++ u.prefix)}' does not exist. Definition values:${lib.showDefs [ u ]}"
        else config;
    in
    { inherit options; config = checked; };
in
{ inherit evalModules mergeDefinitions dischargeProperties pushDownProperties; }
