# The MTCNN CUDA glue test calls the CUDA runtime directly (cudaMalloc/cudaMemcpy).
if(KS_HAVE_CUDA AND TARGET test_mtcnn_cuda)
  target_include_directories(test_mtcnn_cuda PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
endif()
