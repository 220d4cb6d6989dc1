//! Tasks: what is predicted, with which loss, and how it is scored.

use serde::{Deserialize, Serialize};

/// What a task predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    /// One real value.
    Regression,
    /// One of `classes` labels.
    Classification { classes: usize },
    /// A yes/no label.
    Binary,
}

/// Training loss of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Mean squared error.
    Mse,
    /// Softmax cross-entropy.
    CrossEntropy,
    /// Sigmoid binary cross-entropy.
    Bce,
}

/// Reported metric of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricKind {
    /// Mean absolute error (lower is better).
    Mae,
    /// Fraction of correct labels (higher is better).
    Accuracy,
}

impl MetricKind {
    /// Whether larger values are better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, MetricKind::Accuracy)
    }

    /// Name used in records and tables.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Mae => "mae",
            MetricKind::Accuracy => "accuracy",
        }
    }
}

impl LossKind {
    /// Name used in records and tables.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::CrossEntropy => "cross-entropy",
            LossKind::Bce => "bce",
        }
    }
}

/// One task of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Name, unique within the dataset.
    pub name: String,
    /// What it predicts.
    pub kind: TaskKind,
    /// Training loss.
    pub loss: LossKind,
    /// Reported metric.
    pub metric: MetricKind,
}

impl Task {
    /// A regression task trained with MSE and scored by MAE.
    pub fn regression(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: TaskKind::Regression,
            loss: LossKind::Mse,
            metric: MetricKind::Mae,
        }
    }

    /// A `classes`-way classification task trained with cross-entropy, scored by accuracy.
    pub fn classification(name: impl Into<String>, classes: usize) -> Self {
        Self {
            name: name.into(),
            kind: TaskKind::Classification { classes },
            loss: LossKind::CrossEntropy,
            metric: MetricKind::Accuracy,
        }
    }

    /// Width of the task head's output.
    pub fn output_dim(&self) -> usize {
        match self.kind {
            TaskKind::Classification { classes } => classes,
            TaskKind::Regression | TaskKind::Binary => 1,
        }
    }
}
