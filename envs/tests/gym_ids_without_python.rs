//! `gym:` ids in a build without the `python` feature: a clear error that
//! names the feature, not "unknown id". (With the feature, the ids are
//! covered by `tests/python_bridge.rs`.)

#[cfg(not(feature = "python"))]
#[test]
fn gym_ids_name_the_missing_feature() {
    use somnium_envs::{EnvError, make};

    let Err(err) = make("gym:CartPole-v1") else {
        panic!("a gym: id made an environment without the python feature");
    };
    let text = err.to_string();
    assert!(
        matches!(&err, EnvError::FeatureDisabled { feature, .. } if feature == "python"),
        "{text}"
    );
    assert!(
        text.contains("gym:CartPole-v1") && text.contains("--features somnium-envs/python"),
        "{text}"
    );
}
