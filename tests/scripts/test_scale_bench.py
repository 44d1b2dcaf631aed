"""The scale benchmark's builder (scripts/bench/scale.py) at a tiny scale on the real PostgreSQL: what
it COPYs is what the indexer's store writes for the same logs, and the refresh agrees on both."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from ledger.indexer.refresh import DerivedRefresher
from ledger.indexer.store import Checkpoint, ChunkSink, IndexStore
from scripts.bench import scale
from tests.indexer.helpers import database, dump


def _index_through_the_store(engine: Engine, nation: scale.Nation) -> None:
    """The same logs through the handlers and :meth:`IndexStore.write_chunk` (INSERT … ON CONFLICT),
    in small chunks, each with its checkpoint, as the runner writes them."""
    store = IndexStore(engine, scale.CHAIN_ID)

    def flush(sink: ChunkSink) -> None:
        if not sink.count:
            return
        block, block_hash, timestamp = sink.provenance[2], sink.provenance[3], sink.provenance[4]
        store.write_chunk(scale.CONTRACT, sink, [], Checkpoint(block, block_hash, timestamp), block, 0)

    scale.handle(scale.events(nation), flush, chunk_rows=97)


def test_copied_rows_are_the_indexers_rows(tmp_path: Path) -> None:
    nation = scale.generate_nation(1_500, 4, seed=11)
    assert len(nation.person) == 1_500 and len(nation.revoked) > 0 and len(nation.supporters) > 0
    with database("postgres", tmp_path) as copied, database("postgres", tmp_path) as inserted:
        counts = scale.build(copied, nation)
        _index_through_the_store(inserted, nation)
        before = dump(copied)
        assert before == dump(inserted)
        assert len(before["contributions"]) == 1_500
        assert len(before["revocations"]) == len(nation.revoked)
        assert len(before["supports"]) == len(nation.supporters)
        assert len(before["dirty_ties"]) == counts["ties"] > 0
        # every batch's records carry its issuer and sit in its transaction
        with copied.connect() as conn:
            unmatched = conn.execute(
                text(
                    "SELECT COUNT(*) FROM contributions c LEFT JOIN batches b ON b.tx_hash = c.tx_hash "
                    "AND b.issuer = c.issuer WHERE b.id IS NULL"
                )
            ).scalar()
            batched = conn.execute(text("SELECT SUM(count) FROM batches")).scalar()
        assert unmatched == 0 and batched == 1_500

        for engine in (copied, inserted):
            refresher = DerivedRefresher(engine, scale.CHAIN_ID)
            refresher.refresh()
            assert refresher.pending() == (0, 0)
        after = dump(copied)
        assert after == dump(inserted)
        assert len(after["ties"]) == counts["ties"]

        # a quiet day later every tie is recomputed, on both
        for engine in (copied, inserted):
            scale.move_head_one_day(engine)
            assert DerivedRefresher(engine, scale.CHAIN_ID).refresh().ties == counts["ties"]
        assert dump(copied) == dump(inserted)


def test_the_nation_has_its_regions_and_about_five_records_a_person() -> None:
    codes = scale.region_codes(200)
    assert len(set(codes)) == 200 and all(0 < c <= 99_999 for c in codes)
    nation = scale.generate_nation(200_000, 200, seed=3)
    assert len(set(nation.region.tolist())) == 200
    assert 4.5 <= len(nation.person) / len(nation.participants) <= 6.0  # 10M records: ~2M people
    share = max(nation.region.tolist().count(r) for r in range(200)) / len(nation.person)
    assert 0.05 < share < 0.15  # the largest municipality: about a tenth of the records
