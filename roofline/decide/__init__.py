"""Decisions from estimates, one implementation for every scenario: costs, constraints and
exclusions, ranking, capacity planning and sweeps."""
from roofline.decide.costs import Cost, CostAssumptions, cost_of
from roofline.decide.plan import PlanResult, PlanRow, plan, plan_scenarios
from roofline.decide.rank import SORT_KEYS, Constraints, Exclusion, RankResult, Ranked, rank
from roofline.decide.sweep import SweepRow, SweepRows, sweep

__all__ = ["Cost", "CostAssumptions", "cost_of", "PlanResult", "PlanRow", "plan", "plan_scenarios", "SORT_KEYS",
           "Constraints", "Exclusion", "RankResult", "Ranked", "rank", "SweepRow", "SweepRows", "sweep"]
