package io.strata.coordinator.scheduler;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** A real pipeline with a record of what the scheduler asked of it: batches, concurrency, releases. */
final class RecordingPipeline implements PipelineExecutor {
    final PipelineExecutor inner;
    final List<Batch> batches = new CopyOnWriteArrayList<>();
    final List<Long> released = new CopyOnWriteArrayList<>();
    final Set<Long> live = ConcurrentHashMap.newKeySet();   // sequences seen and not released
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final AtomicInteger maxLive = new AtomicInteger();
    volatile boolean ready = true;
    volatile String failNext;   // the next submitted batch fails with this message (failure injection)
    volatile CompletableFuture<Void> hold;  // when set, results reach the scheduler only once it completes
    volatile boolean paused;                // depth 0: the scheduler takes requests in but forms no micro-batch
    volatile boolean recoverable;           // whole-step failures are ones a new pipeline recovers from (as the cluster's)
    volatile String unrecoverable;

    RecordingPipeline(PipelineExecutor inner) {
        this.inner = inner;
    }

    @Override public List<StageInfo> stages() { return inner.stages(); }
    @Override public boolean ready() { return ready && inner.ready(); }
    @Override public int depth() { return paused ? 0 : inner.depth(); }
    @Override public int vocabSize() { return inner.vocabSize(); }
    @Override public KvLimits kvLimits() { return inner.kvLimits(); }
    @Override public boolean recoverable(Throwable stepError) { return recoverable; }
    @Override public String unrecoverable() { return unrecoverable; }

    @Override
    public CompletableFuture<Result> submit(Batch batch) {
        batches.add(batch);
        for (Row r : batch.rows()) live.add(r.seq());
        maxLive.accumulateAndGet(live.size(), Math::max);
        maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
        String fail = failNext;
        if (fail != null) {
            failNext = null;
            inFlight.decrementAndGet();
            return CompletableFuture.failedFuture(new PipelineException(fail));
        }
        CompletableFuture<Result> r = inner.submit(batch);
        CompletableFuture<Void> h = hold;
        if (h != null) r = r.thenCombine(h, (x, y) -> x);
        return r.whenComplete((x, e) -> inFlight.decrementAndGet());
    }

    @Override
    public void release(long seq) {
        released.add(seq);
        live.remove(seq);
        inner.release(seq);
    }

    @Override
    public void close() {
        inner.close();
    }
}
