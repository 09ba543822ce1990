package dev.ckptdiff.torchdist;

import java.util.List;
import java.util.Map;

/**
 * What {@code .metadata} (torch.distributed.checkpoint's global index) says: every tensor key with
 * its chunks, every byte item ({@code _extra_state}, {@code common_state}, ...) with its storage,
 * the DCP version (PT >= 2.9) and which optional attributes Megatron-Core added.
 */
public record DcpMetadata(Map<String, GlobalTensor> tensors, Map<String, StorageInfo> byteItems, String version,
                          List<String> extras) {
}
