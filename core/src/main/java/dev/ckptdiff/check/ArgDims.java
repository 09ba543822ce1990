package dev.ckptdiff.check;

import dev.ckptdiff.megatron.MegatronArgs;

/** The model dimensions Megatron args give (-1 where absent): what expected shapes are computed from. */
record ArgDims(long hidden, long ffn, long heads, long groups, long headDim, long paddedVocab) {
    static ArgDims of(MegatronArgs a) {
        long h = a.getLong("hidden_size", -1);
        long nh = a.getLong("num_attention_heads", -1);
        long ng = a.getBool("group_query_attention").orElse(true) ? a.getLong("num_query_groups", nh) : nh;
        return new ArgDims(h, a.getLong("ffn_hidden_size", -1), nh, ng,
                a.getLong("kv_channels", nh > 0 && h > 0 ? h / nh : -1), a.getLong("padded_vocab_size", -1));
    }

    /** For messages: the dimensions a shape was derived from. */
    String describe() {
        return "hidden " + hidden + ", heads " + heads + "/" + groups + " groups, kv_channels " + headDim + ", ffn " + ffn
                + ", padded vocab " + paddedVocab;
    }
}
