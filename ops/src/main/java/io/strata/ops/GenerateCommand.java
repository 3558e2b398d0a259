package io.strata.ops;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.sample.Sample;
import io.strata.engine.sample.Sampler;
import io.strata.engine.sample.SamplingParams;
import io.strata.engine.sample.SequenceSampler;
import io.strata.engine.text.ChatMessage;
import io.strata.engine.text.ChatTemplate;
import io.strata.engine.text.TextStream;
import io.strata.engine.text.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code strata generate}: text (or ids) in, a continuation out, in one process. Plain text is streamed to the
 * terminal as it is produced (never a broken UTF-8 sequence); {@code --json} prints the generated ids and text.
 */
@Command(name = "generate", description = "Generate a continuation in one process; streams text, or --json for ids and text.")
public final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions opts;

    static final class Input {
        @Option(names = {"-p", "--prompt"}, description = "prompt text (BOS added when the model says so)")
        String prompt;

        @Option(names = "--ids", split = ",", description = "prompt as token ids, taken as given")
        int[] ids;
    }

    @ArgGroup(multiplicity = "1")
    Input input;

    @Option(names = {"-n", "--max-tokens"}, defaultValue = "64", description = "tokens to generate at most (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "0 = greedy argmax, lowest id on ties (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-k", defaultValue = "40", description = "(default: ${DEFAULT-VALUE}; 0 = off)")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "(default: ${DEFAULT-VALUE}; 1 = off)")
    float topP;

    @Option(names = "--min-p", defaultValue = "0.05", description = "(default: ${DEFAULT-VALUE}; 0 = off)")
    float minP;

    @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "(default: ${DEFAULT-VALUE} = off)")
    float repeatPenalty;

    @Option(names = "--seed", defaultValue = "-1", description = "random seed; -1 picks one (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--chat", description = "apply the model's chat template to the prompt as a user message")
    boolean chat;

    @Option(names = "--system", description = "system message for --chat")
    String system;

    @Option(names = "--stop", description = "stop string (repeatable)")
    List<String> stops = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "keep generating past end-of-generation tokens")
    boolean ignoreEos;

    @Option(names = "--json", description = "print {\"ids\":[...],\"text\":\"...\"} instead of streaming text")
    boolean json;

    @Option(names = "--kv", defaultValue = "f16", description = "KV cache type f32|f16 (default: ${DEFAULT-VALUE})")
    String kv;

    @Override
    public Integer call() {
        if (maxTokens < 0) throw new IllegalArgumentException("--max-tokens must be >= 0");
        try (GgufFile file = GgufFile.open(opts.model); Backend backend = opts.backend()) {
            ModelConfig cfg = ModelConfig.from(file);
            Tokenizer tok = Tokenizer.fromMetadata(file.metadata());
            int[] prompt;
            if (input.ids != null) {
                prompt = input.ids;
                for (int i = 0; i < prompt.length; i++) {
                    if (prompt[i] < 0 || prompt[i] >= cfg.vocab()) {
                        throw new IllegalArgumentException("--ids: id " + prompt[i] + " at index " + i + " is outside the vocabulary of " + cfg.vocab());
                    }
                }
            } else if (chat) {
                List<ChatMessage> messages = new ArrayList<>();
                if (system != null) messages.add(ChatMessage.system(system));
                messages.add(ChatMessage.user(input.prompt));
                prompt = ChatTemplate.forModel(file.metadata(), tok).promptIds(tok, messages, true);
            } else {
                prompt = tok.encode(input.prompt, true, false);
            }
            if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
            int ctx = Math.min(cfg.contextLength(), prompt.length + maxTokens);
            if (prompt.length + maxTokens > cfg.contextLength()) {
                throw new IllegalArgumentException("prompt (" + prompt.length + " tokens) plus --max-tokens (" + maxTokens
                        + ") exceeds the model's context of " + cfg.contextLength());
            }
            SamplingParams params = SamplingParams.builder().temperature(temperature).topK(topK).topP(topP).minP(minP)
                    .repeatPenalty(repeatPenalty).seed(seed >= 0 ? seed : System.nanoTime()).build();
            Sampler sampler = new Sampler(cfg.vocab());
            SequenceSampler seq = new SequenceSampler(params);
            seq.accept(prompt);
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, Math.min(512, prompt.length));
            TextStream text = new TextStream(tok, stops);
            PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            List<Integer> generated = new ArrayList<>();
            StringBuilder all = new StringBuilder();
            float[] logits = new float[cfg.vocab()];
            try (KvCache cache = stage.newCache(ctx, KvType.parse(kv))) {
                stage.forward(Step.ofSequence(prompt, 0, cache, false), logits);
                int pos = prompt.length;
                for (int i = 0; i < maxTokens; i++) {
                    Sample s = sampler.sample(logits, 0, seq);
                    int id = s.token();
                    boolean eog = tok.isEndOfGeneration(id);
                    if (eog && !ignoreEos) break;
                    generated.add(id);
                    // with --ignore-eos an end-of-generation token is shown as its text and generation goes on
                    String piece = eog ? tok.decode(new int[]{id}, true) : text.push(id);
                    all.append(piece);
                    if (!json) out.print(piece);
                    if (text.isDone()) break;
                    if (i + 1 < maxTokens) stage.forward(Step.ofSequence(new int[]{id}, pos++, cache, false), logits);
                }
            }
            String rest = text.finish();
            all.append(rest);
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("ids", generated.stream().mapToInt(Integer::intValue).toArray());
                o.put("text", all.toString());
                o.put("prompt_tokens", prompt.length);
                out.println(Json.write(o));
            } else {
                out.println(rest);
            }
        }
        return 0;
    }
}
