//! Berth's Argo CD health checks (deploy/argocd), evaluated the way Argo CD
//! evaluates `resource.customizations` scripts, on any object.
use mlua::serde::{LuaSerdeExt, SerializeOptions};
use mlua::{Lua, LuaOptions, StdLib};
use serde::Deserialize;
use serde_json::Value;

use crate::fixture::repo_root;

#[derive(Deserialize, Debug, PartialEq)]
pub struct HealthStatus {
    pub status: String,
    #[serde(default)]
    pub message: String,
}

/// Runs a health script on `obj`. Argo CD (gopher-lua) gives argocd-cm scripts
/// only the base, package, table and a reduced os library; os is left out here
/// so that a script relying on it, or on string/math, fails.
pub fn run(script: &str, name: &str, obj: &Value) -> mlua::Result<HealthStatus> {
    let lua = Lua::new_with(StdLib::PACKAGE | StdLib::TABLE, LuaOptions::default())?;
    // JSON null becomes nil, as in Argo CD, not mlua's null sentinel.
    let options = SerializeOptions::new().serialize_none_to_null(false).serialize_unit_to_null(false);
    lua.globals().set("obj", lua.to_value_with(obj, options)?)?;
    let result: mlua::Value = lua.load(script).set_name(name).eval()?;
    lua.from_value(result)
}

/// The health Argo CD would show for a live Berth object of `kind`.
pub fn health(kind: &str, obj: &Value) -> HealthStatus {
    let path = repo_root().join("deploy/argocd/health/berth.dev").join(kind).join("health.lua");
    let script = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    run(&script, &format!("{kind}/health.lua"), obj).unwrap_or_else(|e| panic!("{kind}/health.lua: {e}"))
}
