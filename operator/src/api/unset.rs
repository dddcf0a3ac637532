//! Optional fields the ECS tools leave unset: console exports and describe output write
//! `null`, and some tools write `""` for an enum they have no value for. Both read as unset,
//! as the AWS SDKs read them; the apiserver stores what was applied, so it reads back as written
//! (the CRD side is `manifests::optional_enums_accept_unset`).

use serde::de::{DeserializeOwned, Deserializer, Error};
use serde::Deserialize;
use serde_json::Value;

/// Deserializes an optional field, `null` and `""` giving `None`.
pub fn empty_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::NetworkMode;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "empty_as_none")]
        mode: Option<NetworkMode>,
    }

    fn mode(json: &str) -> Result<Option<NetworkMode>, serde_json::Error> {
        serde_json::from_str::<Holder>(json).map(|holder| holder.mode)
    }

    #[test]
    fn null_empty_and_missing_are_unset() {
        assert_eq!(mode(r#"{"mode": null}"#).unwrap(), None);
        assert_eq!(mode(r#"{"mode": ""}"#).unwrap(), None);
        assert_eq!(mode("{}").unwrap(), None);
    }

    #[test]
    fn values_still_parse_and_bad_ones_fail() {
        assert_eq!(mode(r#"{"mode": "awsvpc"}"#).unwrap(), Some(NetworkMode::Awsvpc));
        assert!(mode(r#"{"mode": "bogus"}"#).is_err());
    }

}
