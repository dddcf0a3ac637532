//! `runtimePlatform` → node selector on the well-known node labels.

use std::collections::BTreeMap;

use crate::api::{CpuArchitecture, OsFamily, TaskDefinitionSpec};

pub(super) fn node_selector(spec: &TaskDefinitionSpec) -> Option<BTreeMap<String, String>> {
    let platform = spec.runtime_platform.as_ref()?;
    let mut selector = BTreeMap::new();
    if let Some(os) = platform.operating_system_family {
        let os = if os == OsFamily::LINUX {
            "linux"
        } else {
            "windows"
        };
        selector.insert("kubernetes.io/os".to_owned(), os.to_owned());
    }
    if let Some(arch) = platform.cpu_architecture {
        let arch = match arch {
            CpuArchitecture::X86_64 => "amd64",
            CpuArchitecture::Arm64 => "arm64",
        };
        selector.insert("kubernetes.io/arch".to_owned(), arch.to_owned());
    }
    (!selector.is_empty()).then_some(selector)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(json: &str) -> Option<BTreeMap<String, String>> {
        let spec: TaskDefinitionSpec = serde_json::from_str(json).unwrap();
        node_selector(&spec)
    }

    #[test]
    fn os_and_architecture() {
        let linux_arm = selector(
            r#"{"containerDefinitions": [], "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}}"#,
        );
        assert_eq!(
            linux_arm,
            Some(BTreeMap::from([
                ("kubernetes.io/arch".into(), "arm64".into()),
                ("kubernetes.io/os".into(), "linux".into())
            ]))
        );
        let windows = selector(
            r#"{"containerDefinitions": [], "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}}"#,
        );
        assert_eq!(
            windows,
            Some(BTreeMap::from([
                ("kubernetes.io/arch".into(), "amd64".into()),
                ("kubernetes.io/os".into(), "windows".into())
            ]))
        );
        assert_eq!(selector(r#"{"containerDefinitions": []}"#), None);
    }
}
