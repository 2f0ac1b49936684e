"""The engines that judge: the CrossGuard pack and its harness, checkov, the live audit."""
