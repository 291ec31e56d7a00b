"""The tables of a siting plan: ranked sites, the coverage curve and the unreachable compounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from .. import schema, settings
from ..schema import STATUS_BEYOND_SNAP_LIMIT, STATUS_ISLAND
from ._covering import GreedyCover, greedy_curve

if TYPE_CHECKING:
    from .siting import SitingProblem

#: Columns of the ranked sites table, in order (``geometry`` last).
SITE_COLUMNS = [
    "rank", "candidate_id", "name", "source", "street", schema.SUB_DISTRICT, "lon", "lat", "x",
    "y", "snap_m", "new_compounds", "new_residents", "cumulative_residents", "cumulative_share",
]
#: Why an uncovered compound cannot be covered by any candidate.
REASON_OFF_NETWORK = STATUS_BEYOND_SNAP_LIMIT
REASON_ISLAND = STATUS_ISLAND
REASON_OUT_OF_REACH = "no_candidate_within_threshold"


@dataclass(frozen=True)
class Reduced:
    """A siting problem restricted to reachable uncovered compounds and useful candidates.

    Attributes
    ----------
    cover : scipy.sparse.csr_array
        ``rows`` × ``cols`` of the problem's coverage matrix.
    weights : numpy.ndarray
        Weights of ``rows``.
    rows : numpy.ndarray
        Compound positions (uncovered, reached by some candidate).
    cols : numpy.ndarray
        Candidate positions (covering someone, or in a sub-district that needs a site).
    groups : list of numpy.ndarray
        Per sub-district that needs a site, its candidates (positions into ``cols``).
    missing_groups : list of str
        Sub-districts that need a site but have no candidate.
    """

    cover: sparse.csr_array
    weights: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    groups: list[np.ndarray]
    missing_groups: list[str]


def ranked_sites(
    problem: SitingProblem, reduced: Reduced, chosen: np.ndarray
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Order chosen sites by what each adds after the ones before it; drop sites that add nothing.

    A chosen site in a sub-district that needs one is kept even when it covers nobody new.

    Parameters
    ----------
    problem : SitingProblem
        The problem solved.
    reduced : Reduced
        Its reduced form, as solved.
    chosen : numpy.ndarray
        Chosen sites as positions into ``reduced.cols``.

    Returns
    -------
    sites : geopandas.GeoDataFrame
        EPSG:4326, columns :data:`SITE_COLUMNS` and ``geometry``, rank 1 first.
    newly_covered : numpy.ndarray of bool
        Per compound of the run.
    """
    chosen = np.asarray(chosen, dtype=np.int64)
    cover, weights, groups = reduced.cover, reduced.weights, reduced.groups
    # Residents decide the order; a tiny weight per compound ranks sites that cover only
    # compounds of unknown population (weight 0) before sites that cover nobody.
    positive = weights[weights > 0]
    tiny = 1e-6 * (positive.min() if len(positive) else 1.0)
    state = GreedyCover(cover[:, chosen], weights + tiny)
    order, new_rows = [], []
    while state.has_gain():
        before = state.uncovered.copy()
        state.take(state.best())
        order.append(state.chosen[-1])
        new_rows.append(np.flatnonzero(before & ~state.uncovered))
    in_group = set(np.concatenate(groups).tolist()) if groups else set()
    for j, site in enumerate(chosen):
        if j not in order and int(site) in in_group:
            order.append(j)
            new_rows.append(np.array([], dtype=np.int64))
    newly = np.zeros(len(problem.weights), dtype=bool)
    for found in new_rows:
        newly[reduced.rows[found]] = True
    positions = reduced.cols[chosen[order] if order else chosen[:0]]
    return _sites_frame(problem, positions, new_rows, weights), newly


def _sites_frame(
    problem: SitingProblem, positions: np.ndarray, new_rows: list[np.ndarray], weights: np.ndarray
) -> gpd.GeoDataFrame:
    picked = problem.candidates.iloc[positions]
    gains = np.array([weights[r].sum() for r in new_rows], dtype=float)
    counts = np.array([len(r) for r in new_rows], dtype=np.int64)
    cumulative = problem.base_weight + np.cumsum(gains)
    wgs84 = picked.geometry.to_crs(settings.exchange_crs)
    residents = problem.measure == "population_share"
    names = [
        name if isinstance(name, str) and name.strip() else f"新增点{rank} / new site {rank}"
        for rank, name in enumerate(picked["name"], start=1)
    ]
    frame = pd.DataFrame(
        {
            "rank": np.arange(1, len(picked) + 1),
            "candidate_id": picked["candidate_id"].to_numpy(),
            "name": names,
            "source": picked["source"].to_numpy(),
            "street": picked["street"].to_numpy(),
            schema.SUB_DISTRICT: picked[schema.SUB_DISTRICT].to_numpy(),
            "lon": wgs84.x.to_numpy(),
            "lat": wgs84.y.to_numpy(),
            "x": picked.geometry.x.to_numpy(),
            "y": picked.geometry.y.to_numpy(),
            "snap_m": picked["snap_m"].to_numpy(dtype=float),
            "new_compounds": counts,
            "new_residents": gains if residents else np.full(len(gains), np.nan),
            "cumulative_residents": cumulative if residents else np.full(len(gains), np.nan),
            "cumulative_share": cumulative / problem.total_weight,
        }
    )
    return gpd.GeoDataFrame(frame, geometry=wgs84.to_numpy(), crs=settings.exchange_crs)


def coverage_curve(
    problem: SitingProblem,
    cover: sparse.csr_array,
    weights: np.ndarray,
    max_sites: int,
    chosen_sites: int,
    chosen_share: float,
) -> pd.DataFrame:
    """Coverage against the number of new sites: greedy, an upper bound, and the chosen plan.

    Returns
    -------
    pandas.DataFrame
        ``n_new_sites`` (0, 1, …), ``covered_share_greedy`` (the greedy order's coverage),
        ``covered_share_upper_bound`` (no ``n`` sites can do better; see
        :func:`lifecircle.analysis._covering.greedy_curve`), ``covered_greedy`` (residents or
        compounds) and ``covered_share_chosen`` (the plan's share at its number of sites).
    """
    _, gains, upper = greedy_curve(cover, weights, max(1, min(max_sites, cover.shape[1])))
    base, total = problem.base_weight, problem.total_weight
    covered = base + np.r_[0.0, np.cumsum(gains)]
    bound = base + np.r_[0.0, upper]
    curve = pd.DataFrame(
        {
            "n_new_sites": np.arange(len(covered)),
            "covered_share_greedy": covered / total,
            "covered_share_upper_bound": np.maximum(bound, covered) / total,
            "covered_greedy": covered,
            "covered_share_chosen": np.nan,
        }
    )
    if chosen_sites < len(curve):
        curve.loc[chosen_sites, "covered_share_chosen"] = chosen_share
    else:
        extra = {"n_new_sites": chosen_sites, "covered_share_chosen": chosen_share}
        curve = pd.concat([curve, pd.DataFrame([extra])], ignore_index=True)
    return curve


def infeasible_compounds(problem: SitingProblem) -> pd.DataFrame:
    """Uncovered compounds that no candidate site can reach, with the reason.

    Returns
    -------
    pandas.DataFrame
        ``compound_id``, ``name``, ``sub_district``, ``population``, ``access_status``,
        ``dist_m`` (walk to the nearest existing facility) and ``reason``:
        ``beyond_snap_limit`` (not on the walking network), ``island`` (on a street piece not
        joined to the main network, with no candidate on it within reach) or
        ``no_candidate_within_threshold``.
    """
    compounds = problem.result.compounds
    mask = ~problem.covered_before & ~problem.reachable
    rows = compounds[mask]
    status = rows[schema.ACCESS_STATUS].to_numpy()
    reason = np.where(
        status == STATUS_BEYOND_SNAP_LIMIT,
        REASON_OFF_NETWORK,
        np.where(status == STATUS_ISLAND, REASON_ISLAND, REASON_OUT_OF_REACH),
    )
    return pd.DataFrame(
        {
            schema.COMPOUND_ID: rows[schema.COMPOUND_ID].to_numpy(),
            schema.NAME: rows[schema.NAME].to_numpy(),
            schema.SUB_DISTRICT: rows[schema.SUB_DISTRICT].to_numpy(),
            schema.POPULATION: rows[schema.POPULATION].to_numpy(dtype=float),
            schema.ACCESS_STATUS: status,
            "dist_m": rows[schema.category_columns(problem.category).dist_m].to_numpy(dtype=float),
            "reason": reason,
        }
    )
