# dk_link_project(target src [default...]): links target with the project libraries it needs.
# A source names them in a comment line such as `/* dk-link: dkaggregator dkagent */`; without one,
# the defaults given are used. dkcommon is always linked last. Linking only what a test needs keeps
# one program's half-finished module from breaking another's tests.
function(dk_link_project target src)
  set(libs ${ARGN})
  file(STRINGS ${src} marks REGEX "dk-link:")
  if(marks)
    set(libs)
    foreach(line ${marks})
      string(REGEX REPLACE ".*dk-link:[ ]*" "" line "${line}")
      string(REGEX REPLACE "[ ]*\\*/.*" "" line "${line}")
      separate_arguments(names UNIX_COMMAND "${line}")
      list(APPEND libs ${names})
    endforeach()
  endif()
  set(have)
  foreach(lib ${libs})
    if(TARGET ${lib})
      list(APPEND have ${lib})
    endif()
  endforeach()
  target_link_libraries(${target} PRIVATE ${have} dkcommon)
endfunction()
