//! Which per-task gradients a gradient-based method works on: the `gradients` option several
//! methods share.

use serde::{Deserialize, Serialize};

use crate::method::{GradSource, ParamDoc};

/// Which per-task gradients a gradient-combination method works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gradients {
    /// W.r.t. the shared parameters (K backward passes through the encoder).
    #[default]
    Params,
    /// W.r.t. the shared representation (one backward through the encoder).
    Representation,
    /// W.r.t. the encoder's last layer (K backward passes; a smaller Gram matrix).
    LastSharedLayer,
}

impl Gradients {
    /// The trainer's gradient source.
    pub fn source(self) -> GradSource {
        match self {
            Gradients::Params => GradSource::Params,
            Gradients::Representation => GradSource::Representation,
            Gradients::LastSharedLayer => GradSource::LastSharedLayer,
        }
    }

    /// The `gradients` parameter's documentation, shared by the methods that offer it.
    pub const DOC: ParamDoc = ParamDoc {
        name: "gradients",
        kind: "params | representation | last-shared-layer",
        help: "task gradients w.r.t. the shared parameters (K backward passes), the shared representation (one), or the encoder's last layer (K passes, a smaller Gram matrix)",
    };

    /// One labelled example per choice, `params` first.
    pub fn examples() -> Vec<(String, serde_json::Value)> {
        vec![
            ("params".to_owned(), serde_json::json!({})),
            (
                "representation".to_owned(),
                serde_json::json!({"gradients": "representation"}),
            ),
        ]
    }
}
