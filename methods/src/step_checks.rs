//! Checks every online method makes on its step input, and the seeded draws of the methods
//! that draw, in one place.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{Error, Gram, Result, StepInput};

/// Refuses to build method `method` for no tasks.
pub fn require_tasks(method: &str, k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::InvalidConfig {
            method: method.to_owned(),
            message: "needs at least one task, got 0".into(),
        });
    }
    Ok(())
}

/// The step's losses, after checking that there is one per task.
pub fn losses<'a>(method: &str, k: usize, input: &StepInput<'a>) -> Result<&'a [f64]> {
    if input.losses.len() != k {
        return Err(Error::TaskCount {
            method: method.to_owned(),
            expected: k,
            got: input.losses.len(),
        });
    }
    Ok(input.losses)
}

/// The step's Gram matrix, after checking that it is there, K×K and finite.
pub fn gram<'a>(method: &str, k: usize, input: &StepInput<'a>) -> Result<&'a Gram> {
    let gram = input.gram.ok_or_else(|| Error::MissingGram {
        method: method.to_owned(),
    })?;
    if gram.k() != k {
        return Err(Error::TaskCount {
            method: method.to_owned(),
            expected: k,
            got: gram.k(),
        });
    }
    if gram.as_slice().iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFiniteGram {
            method: method.to_owned(),
        });
    }
    Ok(gram)
}

/// The draws of step `step` of a run seeded `seed`, for the method tagged `tag`: a ChaCha8
/// stream of its own per step, so a resumed run draws what the uninterrupted one drew without
/// saving a generator, and methods never share a stream.
pub fn step_rng(seed: u64, tag: &str, step: u64) -> ChaCha8Rng {
    let tag = tag.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ tag);
    rng.set_stream(step);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn step_draws_depend_on_seed_tag_and_step_only() {
        let draw = |seed, tag, step| step_rng(seed, tag, step).random::<u64>();
        assert_eq!(draw(1, "rlw", 5), draw(1, "rlw", 5));
        assert_ne!(draw(1, "rlw", 5), draw(1, "rlw", 6));
        assert_ne!(draw(1, "rlw", 5), draw(2, "rlw", 5));
        assert_ne!(draw(1, "rlw", 5), draw(1, "pcgrad", 5));
    }
}
