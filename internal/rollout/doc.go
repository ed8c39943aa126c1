// Package rollout is the pure domain of sfn-rollout: rollout policies and the step lists
// their strategies expand to, the Rollout record and its phases, and Decide, which turns a
// rollout and an observation of the world into the next action. Standard library only.
package rollout
