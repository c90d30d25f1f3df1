"""Polyak averaging: an exponential moving average of the parameters, kept by the optimizer.

After update t the average is the debiased exponential moving average of the parameters
theta_1, ..., theta_t that the updates produced,

  m_t = sum_s decay^(t-s) theta_s / sum_s decay^(t-s),

kept in the running form m_t = m_(t-1) + w_t (theta_t - m_(t-1)) with w_t = (1 - decay) / (1 - decay^t),
so that m_1 = theta_1 and no zero initialisation biases the early average. Validation, testing
and sampling then use m_t, which averages out the noise that importance-sampled gradients leave
in the last iterate.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class ParameterAverageState(NamedTuple):
  count: jax.Array   # () int32, number of updates averaged so far
  average: Any       # the parameter pytree m_t


def parameter_average(decay: float) -> optax.GradientTransformation:
  """Leaves the updates as they are and keeps the moving average of the updated parameters.

  Chain it last, after every transformation that changes the updates, so that it sees the
  parameters the step actually produces.

  Args:
    decay: in [0, 1); the weight of theta_s in m_t falls as decay^(t-s) (0: m_t = theta_t).
  """
  if not 0.0 <= decay < 1.0:
    raise ValueError(f"decay must be in [0, 1), got {decay!r}")

  def init_fn(params: Any) -> ParameterAverageState:
    return ParameterAverageState(count=jnp.zeros((), jnp.int32), average=jax.tree.map(jnp.asarray, params))

  def update_fn(updates: Any, state: ParameterAverageState, params: Any = None
                ) -> tuple[Any, ParameterAverageState]:
    if params is None:
      raise ValueError("parameter_average needs the parameters: call update(updates, state, params)")
    count = state.count + 1
    weight = (1.0 - decay) / (1.0 - decay ** count.astype(jnp.float32))
    new_params = optax.apply_updates(params, updates)
    average = jax.tree.map(lambda m, theta: m + weight * (theta - m), state.average, new_params)
    return updates, ParameterAverageState(count=count, average=average)

  return optax.GradientTransformation(init_fn, update_fn)


def find_average(opt_state: optax.OptState) -> Any | None:
  """The parameter average that a `parameter_average` in the optimizer keeps, or None if none does."""
  found = [s for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, ParameterAverageState))
           if isinstance(s, ParameterAverageState)]
  return found[0].average if found else None
